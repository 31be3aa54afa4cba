"""``iguana status``: where a boot is, how each job went, and the last error; in JSON also the
fields of ``cloud-init status --long --format json`` (``status``, ``extended_status``,
``errors``, ``recoverable_errors``, ``last_update``, ``detail``), so that tools written for
cloud-init read a boot of Iguana the same way.

Everything here reads the record's JSON form (a plain dict, as ``BootRecord.to_json`` gives it
and ``--json`` prints it). The verb has it from ``CheckpointStore.load``, the one reader of the
checkpoint (it applies the journal, migrates an older schema, checks every value and names
what is wrong), whose record model is cheap enough to load for a look from a rescue shell and
for each poll of ``status --wait`` (``iguana_fsm.recordclass``, issue 17).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iguana_fsm.errors import CheckpointError, ExitCode, StillRunning
from iguana_fsm.machine import ENDINGS
from iguana_fsm.paths import Paths
from iguana_fsm.workflow.jobstatus import JobStatus

if TYPE_CHECKING:
    from iguana_fsm.record import BootRecord

Plain = dict[str, Any]
"""A boot record's JSON form."""


def handed_over(record: Plain) -> bool:
    """Whether the boot is over: an ending reached and carried out, without an error."""
    return record["state"] in ENDINGS and record["error"] is None and record["finished"] is not None


def phase(record: Plain, running: bool) -> str:
    """finished, running, failed or interrupted: the one reading that the exit code and the
    description both come from."""
    if handed_over(record):
        return "finished"
    if running:
        return "running"
    if record["error"] is not None:
        return "failed"
    return "interrupted"


def exit_code(record: Plain, running: bool) -> ExitCode:
    """OK: the boot reached its ending; RUNNING; INTERRUPTED (nothing holds the lock);
    otherwise the failed boot's own code (see ``iguana --help``)."""
    now = phase(record, running)
    if now == "failed" and record["error"] is not None:
        return ExitCode(record["error"]["code"])
    return {"finished": ExitCode.OK, "running": ExitCode.RUNNING}.get(now, ExitCode.INTERRUPTED)


def status_word(record: Plain, running: bool) -> str:
    """cloud-init's word for the boot: running, done, degraded (done, with recoverable errors:
    a failed ``continue-on-error`` job, a warning), or error (failed, or interrupted)."""
    now = phase(record, running)
    if now == "running":
        return "running"
    if now == "finished":
        return "degraded" if any(recoverable_errors(record).values()) else "done"
    return "error"


def extended_status(record: Plain, running: bool) -> str:
    """cloud-init's ``extended_status``: the status word made precise (``degraded running``,
    ``interrupted``)."""
    word = status_word(record, running)
    if word == "running" and any(recoverable_errors(record).values()):
        return "degraded running"
    if word == "error" and phase(record, running) == "interrupted":
        return "interrupted"
    return {"degraded": "degraded done"}.get(word, word)


def errors(record: Plain, running: bool) -> list[str]:
    """What stopped the boot: its error (and each workflow problem), or the interruption."""
    error = record["error"]
    if error is not None:
        found = [f"{error['state']}: {error['message']}"]
        return found + [str(problem) for problem in error["problems"]]
    if phase(record, running) == "interrupted":
        return [f"interrupted in state {record['state']}: `iguana resume` continues it"]
    return []


def recoverable_errors(record: Plain) -> dict[str, list[str]]:
    """Problems the boot went on after, by level as cloud-init files them: the record's
    warnings (unknown ``rd.iguana.`` options among them) and failed continue-on-error jobs."""
    found = [
        f"job {job_id} failed (continue-on-error): {job['reason']}"
        for job_id, job in record["jobs"].items()
        if job["status"] == JobStatus.FAILED_CONTINUED
    ]
    found.extend(record["warnings"])
    return {"WARNING": found} if found else {}


def last_update(record: Plain) -> float:
    """When the record last changed, as far as its own times tell."""
    times = [record["started"], record["finished"] or 0.0]
    times.extend(step["at"] for step in record["history"][-1:])
    for job in record["jobs"].values():
        times.extend(t for t in (job["started"], job["finished"]) if t is not None)
    return float(max(times))


def rfc2822(when: float) -> str:
    """``Mon, 25 Nov 2024 15:16:40 +0000``, cloud-init's ``last_update`` form."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))


def current_job(record: Plain, now: float | None = None) -> dict[str, Any] | None:
    """The running job: its id, ``n`` of ``of`` and seconds so far."""
    job_id = record["current_job"]
    job = record["jobs"].get(job_id) if job_id else None
    if job is None or job["status"] != JobStatus.RUNNING or job["started"] is None:
        return None
    elapsed = (time.time() if now is None else now) - job["started"]
    return {
        "id": job_id,
        "n": job["place"],
        "of": record["jobs_total"],
        "elapsed": round(elapsed, 1),
        "progress": job["progress"],
    }


def describe(record: Plain, running: bool, checkpoint: str = "(this checkpoint)") -> str:
    """The boot in a few readable lines."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record["started"]))
    lines = [
        f"status:   {extended_status(record, running)}",
        f"run:      {record['run_id']}  started {when} UTC",
        f"state:    {record['state']}{ACTIVITY[phase(record, running)]}",
        f"workflow: {record['workflow_source'] or '-'}",
    ]
    now = current_job(record) if running else None
    if now is not None:
        place = f" (job {now['n']} of {now['of']})" if now["n"] and now["of"] else ""
        said = f": {now['progress']}" if now["progress"] else ""
        lines.append(f"running:  {now['id']}{place} for {now['elapsed']:.0f} s{said}")
    if record["workflow_sha256"]:
        lines.append(f"sha256:   {record['workflow_sha256']}")
    if record["jobs"]:
        lines.append("jobs:")
        lines.extend(job_line(job_id, job) for job_id, job in record["jobs"].items())
    if record["memory"]["mode"] is not None:
        lines.append(memory_line(record))
    if record["handoff"]:
        lines.append(f"hand-off: {record['handoff']['action']}: {record['handoff']['reason']}")
    for warning in record["warnings"]:
        lines.append(f"warning:  {warning}")
    if record["error"]:
        from iguana_fsm.console import banner_lines  # and textwrap: for a failed boot only

        lines.extend(banner_lines({**record["error"], "checkpoint": checkpoint}))
    return "\n".join(lines)


def job_line(job_id: str, job: Plain) -> str:
    """One job: status, exit code, seconds, memory peak and, unless it succeeded, why."""
    started, finished = job["started"], job["finished"]
    took = f"{finished - started:.1f}s" if started is not None and finished is not None else "-"
    code = f"exit {job['exit_code']}" if job["exit_code"] is not None else ""
    failed = job["reason"] and job["status"] != JobStatus.SUCCEEDED
    reason = f"  ({job['reason']})" if failed else ""
    peak = f"peak {mib(job['peak_memory'])}" if job["peak_memory"] is not None else ""
    return f"  {job_id:<20} {job['status']:<16} {code:<8} {took:>8} {peak:<15}{reason}".rstrip()


def mib(size: int) -> str:
    """``size`` bytes in MiB, one decimal."""
    return f"{size / 1024**2:.1f} MiB"


def budget_bytes(budget: Plain | None) -> int | None:
    """What ``Budget.bytes`` says of a budget in its JSON form (a test holds the two equal)."""
    if budget is None:
        return None
    known = [budget[name] for name in ("limit", "storage_free") if budget[name] is not None]
    if budget["mem_available"] is not None:
        known.append(max(0, budget["mem_available"] - budget["reserve"]))
    return min(known) if known else None


def memory_line(record: Plain) -> str:
    """The boot's peak job memory, the plan's mode and the budget it was made for."""
    memory = record["memory"]
    budget = budget_bytes(memory["budget"])
    peak = mib(memory["peak"]) if memory["peak"] is not None else "-"
    limit = mib(budget) if budget is not None else "unknown"
    return f"memory:   peak {peak} (largest job); images pulled {memory['mode']}; budget {limit}"


ACTIVITY = {
    "finished": " (finished)",
    "running": " (running)",
    "failed": " (failed)",
    "interrupted": " (interrupted: `iguana resume` continues it)",
}


def as_json(record: Plain, running: bool) -> str:
    """The checkpoint plus ``running``, the status exit code, the running job and cloud-init's
    status fields, as JSON."""
    data: dict[str, Any] = dict(record)
    data["running"] = running
    data["status_code"] = exit_code(record, running)
    data["status"] = status_word(record, running)
    data["extended_status"] = extended_status(record, running)
    data["errors"] = errors(record, running)
    data["recoverable_errors"] = recoverable_errors(record)
    data["last_update"] = rfc2822(last_update(record))
    data["detail"] = f"state {record['state']}{ACTIVITY[phase(record, running)]}"
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
    StillRunning when ``timeout`` seconds pass first. ``load`` reads the checkpoint again at
    each poll."""
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
