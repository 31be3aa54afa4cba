"""``iguana status``: where a boot is, how each job went, and the last error; in JSON also the
fields of ``cloud-init status --long --format json`` (``status``, ``extended_status``,
``errors``, ``recoverable_errors``, ``last_update``, ``detail``), so that tools written for
cloud-init read a boot of Iguana the same way."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from typing import Any

from iguana_fsm.console import banner_lines
from iguana_fsm.errors import CheckpointError, ExitCode, StillRunning
from iguana_fsm.paths import Paths
from iguana_fsm.record import BootRecord, JobStatus, to_plain


def phase(record: BootRecord, running: bool) -> str:
    """finished, running, failed or interrupted: the one reading that the exit code and the
    description both come from."""
    if record.handed_over:
        return "finished"
    if running:
        return "running"
    if record.error is not None:
        return "failed"
    return "interrupted"


def exit_code(record: BootRecord, running: bool) -> ExitCode:
    """OK: the boot reached its ending; RUNNING; INTERRUPTED (nothing holds the lock);
    otherwise the failed boot's own code (see ``iguana --help``)."""
    now = phase(record, running)
    if now == "failed" and record.error is not None:
        return record.error.code
    return {"finished": ExitCode.OK, "running": ExitCode.RUNNING}.get(now, ExitCode.INTERRUPTED)


def status_word(record: BootRecord, running: bool) -> str:
    """cloud-init's word for the boot: running, done, degraded (done, with recoverable errors:
    a failed ``continue-on-error`` job, a warning), or error (failed, or interrupted)."""
    now = phase(record, running)
    if now == "running":
        return "running"
    if now == "finished":
        return "degraded" if any(recoverable_errors(record).values()) else "done"
    return "error"


def extended_status(record: BootRecord, running: bool) -> str:
    """cloud-init's ``extended_status``: the status word made precise (``degraded running``,
    ``interrupted``)."""
    word = status_word(record, running)
    if word == "running" and any(recoverable_errors(record).values()):
        return "degraded running"
    if word == "error" and phase(record, running) == "interrupted":
        return "interrupted"
    return {"degraded": "degraded done"}.get(word, word)


def errors(record: BootRecord, running: bool) -> list[str]:
    """What stopped the boot: its error (and each workflow problem), or the interruption."""
    if record.error is not None:
        found = [f"{record.error.state}: {record.error.message}"]
        return found + [str(problem) for problem in record.error.problems]
    if phase(record, running) == "interrupted":
        return [f"interrupted in state {record.state}: `iguana resume` continues it"]
    return []


def recoverable_errors(record: BootRecord) -> dict[str, list[str]]:
    """Problems the boot went on after, by level as cloud-init files them: the record's
    warnings (unknown ``rd.iguana.`` options among them) and failed continue-on-error jobs."""
    found = [
        f"job {job_id} failed (continue-on-error): {job.reason}"
        for job_id, job in record.jobs.items()
        if job.status == JobStatus.FAILED_CONTINUED
    ]
    found.extend(record.warnings)
    return {"WARNING": found} if found else {}


def last_update(record: BootRecord) -> float:
    """When the record last changed, as far as its own times tell."""
    times = [record.started, record.finished or 0.0]
    times.extend(step.at for step in record.history[-1:])
    for job in record.jobs.values():
        times.extend(t for t in (job.started, job.finished) if t is not None)
    return max(times)


def rfc2822(when: float) -> str:
    """``Mon, 25 Nov 2024 15:16:40 +0000``, cloud-init's ``last_update`` form."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))


def current_job(record: BootRecord, now: float | None = None) -> dict[str, Any] | None:
    """The running job: its id, ``n`` of ``of`` and seconds so far."""
    job_id = record.current_job
    job = record.jobs.get(job_id) if job_id else None
    if job_id is None or job is None or job.status != JobStatus.RUNNING or job.started is None:
        return None
    elapsed = (time.time() if now is None else now) - job.started
    return {
        "id": job_id,
        "n": job.place,
        "of": record.jobs_total,
        "elapsed": round(elapsed, 1),
        "progress": job.progress,
    }


def describe(record: BootRecord, running: bool, checkpoint: str = "(this checkpoint)") -> str:
    """The boot in a few readable lines."""
    when = datetime.datetime.fromtimestamp(record.started, datetime.UTC)
    lines = [
        f"status:   {extended_status(record, running)}",
        f"run:      {record.run_id}  started {when:%Y-%m-%d %H:%M:%S} UTC",
        f"state:    {record.state}{ACTIVITY[phase(record, running)]}",
        f"workflow: {record.workflow_source or '-'}",
    ]
    now = current_job(record) if running else None
    if now is not None:
        place = f" (job {now['n']} of {now['of']})" if now["n"] and now["of"] else ""
        said = f": {now['progress']}" if now["progress"] else ""
        lines.append(f"running:  {now['id']}{place} for {now['elapsed']:.0f} s{said}")
    if record.workflow_sha256:
        lines.append(f"sha256:   {record.workflow_sha256}")
    if record.jobs:
        lines.append("jobs:")
        for job_id, job in record.jobs.items():
            took = f"{job.duration:.1f}s" if job.duration is not None else "-"
            code = f"exit {job.exit_code}" if job.exit_code is not None else ""
            reason = f"  ({job.reason})" if job.reason and job.status != JobStatus.SUCCEEDED else ""
            peak = f"peak {mib(job.peak_memory)}" if job.peak_memory is not None else ""
            line = f"  {job_id:<20} {job.status:<16} {code:<8} {took:>8} {peak:<15}{reason}"
            lines.append(line.rstrip())
    if record.memory.mode is not None:
        lines.append(memory_line(record))
    if record.handoff:
        lines.append(f"hand-off: {record.handoff.action}: {record.handoff.reason}")
    for warning in record.warnings:
        lines.append(f"warning:  {warning}")
    if record.error:
        lines.extend(banner_lines({**to_plain(record.error), "checkpoint": checkpoint}))
    return "\n".join(lines)


def mib(size: int) -> str:
    """``size`` bytes in MiB, one decimal."""
    return f"{size / 1024**2:.1f} MiB"


def memory_line(record: BootRecord) -> str:
    """The boot's peak job memory, the plan's mode and the budget it was made for."""
    memory = record.memory
    budget = memory.budget.bytes if memory.budget is not None else None
    peak = mib(memory.peak) if memory.peak is not None else "-"
    limit = mib(budget) if budget is not None else "unknown"
    return f"memory:   peak {peak} (largest job); images pulled {memory.mode}; budget {limit}"


ACTIVITY = {
    "finished": " (finished)",
    "running": " (running)",
    "failed": " (failed)",
    "interrupted": " (interrupted: `iguana resume` continues it)",
}


def as_json(record: BootRecord, running: bool) -> str:
    """The checkpoint plus ``running``, the status exit code, the running job and cloud-init's
    status fields, as JSON."""
    data: dict[str, Any] = record.to_json()
    data["running"] = running
    data["status_code"] = exit_code(record, running)
    data["status"] = status_word(record, running)
    data["extended_status"] = extended_status(record, running)
    data["errors"] = errors(record, running)
    data["recoverable_errors"] = recoverable_errors(record)
    data["last_update"] = rfc2822(last_update(record))
    data["detail"] = f"state {record.state}{ACTIVITY[phase(record, running)]}"
    data["running_job"] = current_job(record) if running else None
    return json.dumps(data, indent=2)


def not_started(paths: Paths, as_json: bool) -> str:
    """The status before any boot: no checkpoint at ``paths.state`` yet."""
    detail = f"{paths.state}: no checkpoint: no boot has started here"
    if not as_json:
        return "status:   not started"
    data: dict[str, Any] = {
        "status": "not started",
        "extended_status": "not started",
        "errors": [],
        "recoverable_errors": {},
        "last_update": None,
        "detail": detail,
        "running": False,
        "status_code": int(ExitCode.CHECKPOINT),
    }
    return json.dumps(data, indent=2)


def wait(
    paths: Paths,
    load: Callable[[], BootRecord],
    running: Callable[[], bool],
    timeout: float | None,
) -> BootRecord:
    """Block until the boot has carried out its ending or reached rescue, or stops running;
    StillRunning when ``timeout`` seconds pass first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        record: BootRecord | None
        try:
            record = load()
        except CheckpointError:
            record = None
        # an ending is reached once carried out (``finished``), not when it is entered
        if record is not None and (record.finished is not None or not running()):
            return record
        if deadline is not None and time.monotonic() > deadline:
            raise StillRunning(f"{paths.state}: the boot still runs after {timeout:g} s")
        time.sleep(0.2)
