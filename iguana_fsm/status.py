"""``iguana status``: where a boot is, how each job went, and the last error."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from typing import Any

from iguana_fsm.banner import banner
from iguana_fsm.errors import CheckpointError, ExitCode, StillRunning
from iguana_fsm.machine import ENDINGS, FINAL_STATES
from iguana_fsm.paths import Paths
from iguana_fsm.record import BootRecord, JobStatus


def phase(record: BootRecord, running: bool) -> str:
    """finished, running, failed or interrupted: the one reading that the exit code and the
    description both come from."""
    if record.state in ENDINGS and record.error is None:
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


def describe(record: BootRecord, running: bool) -> str:
    """The boot in a few readable lines."""
    when = datetime.datetime.fromtimestamp(record.started, datetime.UTC)
    lines = [
        f"run:      {record.run_id}  started {when:%Y-%m-%d %H:%M:%S} UTC",
        f"state:    {record.state}{ACTIVITY[phase(record, running)]}",
        f"workflow: {record.workflow_source or '-'}",
    ]
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
        lines.append(banner(record.error, "(this checkpoint)"))
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
    """The checkpoint plus ``running`` and the status exit code, as JSON."""
    data: dict[str, Any] = record.to_json()
    data["running"] = running
    data["status_code"] = exit_code(record, running)
    return json.dumps(data, indent=2)


def wait(
    paths: Paths,
    load: Callable[[], BootRecord],
    running: Callable[[], bool],
    timeout: float | None,
) -> BootRecord:
    """Block until the boot reaches an ending or rescue, or stops running; CheckpointError
    when ``timeout`` seconds pass first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        record: BootRecord | None
        try:
            record = load()
        except CheckpointError:
            record = None
        if record is not None and (record.state in FINAL_STATES or not running()):
            return record
        if deadline is not None and time.monotonic() > deadline:
            raise StillRunning(f"{paths.state}: the boot still runs after {timeout:g} s")
        time.sleep(0.2)
