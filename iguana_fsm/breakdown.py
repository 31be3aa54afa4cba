"""``iguana status --timings``: where a boot's time went, from the timings in its checkpoint
(seconds in each state, each job's container phases, the engine's start, each image's pull),
so the next slow phase shows without a profiler."""

from __future__ import annotations

from iguana_fsm.machine import STATES
from iguana_fsm.record import BootRecord

JOB_PHASES = ("create", "run", "clean-up")
"""A job's phases in the order they happen (``record.Timings.jobs``)."""


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def describe(record: BootRecord) -> str:
    """The breakdown in readable lines: states, jobs, pulls, and the time outside containers."""
    timings = record.timings
    lines = ["seconds by state:"]
    known = [state for state in STATES if state in timings.states]
    others = sorted(set(timings.states) - set(known))
    for state in known + others:
        lines.append(f"  {state:<28} {timings.states[state]:>8.2f}")
    total = sum(timings.states.values())
    lines.append(f"  {'total':<28} {total:>8.2f}")
    in_containers = sum(phases.get("run", 0.0) for phases in timings.jobs.values())
    lines.append(f"  {'in job containers':<28} {in_containers:>8.2f}")
    lines.append(f"  {'outside job containers':<28} {total - in_containers:>8.2f}")
    if timings.jobs:
        header = "".join(f" {phase:>8}" for phase in JOB_PHASES)
        lines.append(f"seconds by job:{' ' * 15}{header}")
        for job_id, phases in timings.jobs.items():
            cells = "".join(f" {_seconds(phases.get(phase)):>8}" for phase in JOB_PHASES)
            lines.append(f"  {job_id:<28}{cells}")
    if timings.engine:
        lines.append("seconds of the podman service (counted from its spawn):")
        lines.append(f"  {'start':<28} {timings.engine.get('start', 0.0):>8.2f}")
        lines.append(f"  {'waited for by a stage':<28} {timings.engine.get('waited', 0.0):>8.2f}")
        if "stop" in timings.engine:
            lines.append(f"  {'stop (after the last state)':<28} {timings.engine['stop']:>8.2f}")
    if timings.pulls:
        lines.append("seconds by image pull (verify):")
        for reference, seconds in timings.pulls.items():
            lines.append(f"  {reference:<28} {seconds:>8.2f}")
    return "\n".join(lines)
