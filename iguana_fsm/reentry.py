"""Re-entry: how ``iguana resume`` continues a recorded boot. The one module that knows it.

1. ``entry_state``: the state that failed or was interrupted, with a job phase re-entering at
   its services (they were stopped) and an ending at mount (also one that was chosen but not
   carried out); a boot whose ending was carried out is refused.
2. ``enter`` (run by the runner before the first state, so its errors are recorded like a
   stage's): re-read the workflow through the locate and fetch stages (fetch refuses one that
   changed), remove the old run's leftover containers, reset every stage's bookkeeping
   (``RESETS``: each stage that keeps some declares its own ``reset``), forget the failure, and
   let ``stages.order`` choose the job to run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from iguana_fsm.errors import ResumeRefused
from iguana_fsm.machine import ENDINGS, FAILURE_STATES
from iguana_fsm.record import BootRecord, Transition
from iguana_fsm.stages import jobs, services, specs
from iguana_fsm.stages.base import BootContext, Stage
from iguana_fsm.stages.order import next_job

RESETS: tuple[Callable[[BootRecord], None], ...] = (jobs.reset, services.reset, specs.reset)
"""The bookkeeping of each stage that keeps some, reset for a resume."""


def entry_state(record: BootRecord) -> str:
    """Where a resume of ``record`` re-enters the machine; ResumeRefused when it cannot."""
    if record.handed_over:
        raise ResumeRefused(f"the boot already finished: it reached {record.state}")
    state = record.failed_state if record.state in FAILURE_STATES else record.state
    if state is None:
        raise ResumeRefused("the checkpoint does not say which state failed")
    if state in ("locate", "fetch"):
        return "locate"
    if state in ("services", "jobs"):
        return "services"
    if state in ENDINGS:
        return "mount"
    return state


def enter(ctx: BootContext, stages: Mapping[str, Stage]) -> str:
    """Prepare ``ctx`` to continue its boot and return the state to run first."""
    record = ctx.record
    previous = record.state
    entry = entry_state(record)
    if entry != "locate":
        # the jobs and services stages need the workflow; it must be the boot's own
        stages["locate"](ctx)
        stages["fetch"](ctx)
    removed = ctx.engine.remove_leftovers(record.run_id)
    for reset in RESETS:
        reset(record)
    record.error = None
    record.failed_state = None
    record.finished = None
    if entry == "services" and next_job(ctx) == "jobs_done":
        entry = "mount"
    record.add_transition(Transition(previous, entry, "resume"))
    ctx.log.info("boot.resumed", previous=previous, entry=entry, leftovers=removed)
    return entry
