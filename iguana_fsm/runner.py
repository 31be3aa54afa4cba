"""Drives the machine: runs the stage of each state, fires the trigger it returns, and
checkpoints every transition. It never asks which stage it runs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from transitions import EventData

from iguana_fsm.checkpoint import BootRecord, CheckpointStore
from iguana_fsm.errors import CheckpointError, ExitCode, IguanaError, ResumeRefused
from iguana_fsm.machine import END, ENDINGS, FAILURE_STATES, FINAL_STATES, build_machine
from iguana_fsm.stages.base import BootContext, Stage
from iguana_fsm.stages.jobs import advance


class Runner:
    """One pass of the machine from a given state until a stage returns END."""

    def __init__(
        self, ctx: BootContext, store: CheckpointStore, stages: Mapping[str, Stage]
    ) -> None:
        self.ctx = ctx
        self.store = store
        self.stages = stages
        ctx.save = self.save

    def save(self) -> None:
        """Checkpoint the record now; CheckpointError stops the boot."""
        self.store.save(self.ctx.record)
        self.ctx.log.debug("checkpoint.saved", state=self.ctx.record.state)

    def run(self, initial: str = "locate", prepare: Callable[[], None] | None = None) -> int:
        """Run from ``initial`` to an ending or to rescue; the exit code of the boot.
        ``prepare`` runs first, inside the same clean-up (the engine is stopped after it); its
        expected errors fail the ``initial`` state like the stage's own would."""
        record = self.ctx.record
        model = build_machine(initial, self._on_transition)
        record.state = initial
        try:
            trigger = self._prepare(initial, prepare)
            self.save()
            self.ctx.log.info("state.entered", state=initial, trigger="start")
            while True:
                if trigger is None:
                    trigger = self._run_stage(model.state)
                if trigger == END:
                    break
                model.fire(trigger)
                trigger = None
        except CheckpointError as error:
            # Nothing can be recorded any more: stop here, loudly, rather than boot blind.
            self.ctx.log.error("checkpoint.failed", error=str(error))
            self._stop_engine(save=False)
            return error.exit_code
        except Exception as error:  # a bug outside any stage: keep the traceback in the log
            self.ctx.log.error("runner.crashed", state=record.state, exc_info=True)
            if record.error is None:
                record.error = {
                    "state": record.state,
                    "message": f"internal error: {type(error).__name__}: {error}",
                    "code": ExitCode.INTERNAL,
                }
            with contextlib.suppress(IguanaError):
                self.save()
            self._stop_engine(save=True)
            return ExitCode.INTERNAL
        except BaseException:
            self._stop_engine(save=False)
            raise
        self._stop_engine(save=True)
        if record.error:
            return int(record.error.get("code", ExitCode.INTERNAL))
        return ExitCode.OK

    def _prepare(self, initial: str, prepare: Callable[[], None] | None) -> str | None:
        """Run ``prepare``; ``fail`` (recorded as a failure of ``initial``) when it raises an
        expected error, else None (run the stage of ``initial``)."""
        if prepare is None:
            return None
        try:
            prepare()
        except CheckpointError:
            raise
        except IguanaError as error:
            return self._failure(initial, str(error), error.exit_code, error.details)
        return None

    def _stop_engine(self, save: bool) -> None:
        """Stop the engine; a failure is a warning in the record, never the boot's result."""
        try:
            self.ctx.engine.stop()
        except IguanaError as error:
            warning = f"stopping the container engine: {error}"
            self.ctx.record.warnings.append(warning)
            self.ctx.log.warning("engine.stop_failed", error=str(error))
            if save:
                with contextlib.suppress(IguanaError):
                    self.save()

    def _run_stage(self, state: str) -> str:
        stage = self.stages[state]
        try:
            return stage(self.ctx)
        except CheckpointError:
            raise
        except IguanaError as error:
            return self._failure(state, str(error), error.exit_code, error.details)
        except Exception as error:  # a bug: the traceback goes to the log file only
            self.ctx.log.error("stage.crashed", state=state, exc_info=True)
            message = f"internal error in {state}: {type(error).__name__}: {error}"
            return self._failure(state, message, ExitCode.INTERNAL, {})

    def _failure(self, state: str, message: str, code: int, details: Mapping[str, Any]) -> str:
        record = self.ctx.record
        if state in FAILURE_STATES:
            # The failure path itself failed: keep the first error, end the boot.
            self.ctx.log.error("rescue.failed", state=state, error=message)
            if record.error is None:
                record.error = {"state": state, "message": message, "code": code}
            return END
        error: dict[str, Any] = {"state": state, "message": message, "code": code}
        error.update(details)
        job = details.get("job")
        if isinstance(job, str) and job in record.jobs:
            error["exit_code"] = record.jobs[job].exit_code
            error["tail"] = list(record.jobs[job].tail)
        record.error = error
        record.failed_state = state
        self.ctx.log.error("state.failed", state=state, error=message, code=code)
        return "fail"

    def _on_transition(self, event: EventData) -> None:
        record = self.ctx.record
        if event.transition is None or event.transition.dest is None:
            raise RuntimeError("a transition event without a destination")
        source, dest = event.transition.source, event.transition.dest
        record.state = dest
        record.history.append(
            {"from": source, "to": dest, "trigger": event.event.name, "at": time.time()}
        )
        if dest in FINAL_STATES:
            record.finished = time.time()
        self.save()
        self.ctx.log.info("state.entered", state=dest, source=source, trigger=event.event.name)
        self.ctx.progress(f"Iguana: {dest}")


def reentry_state(record: BootRecord) -> str:
    """Where ``iguana resume`` re-enters: the state that failed or was interrupted, with a
    job phase re-entering at its services (they were stopped) and an ending at mount."""
    if record.state in ENDINGS and record.error is None:
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


def resume_entry(ctx: BootContext) -> str:
    """Reset the record for a resume and return the state to re-enter (the workflow must be
    loaded: which job runs next depends on it)."""
    entry = reentry_state(ctx.record)
    reset_for_resume(ctx.record)
    if entry == "services" and advance(ctx) == "jobs_done":
        return "mount"
    return entry


def reset_for_resume(record: BootRecord) -> None:
    """Forget the failure; jobs that did not succeed (or were skipped because of it) run again."""
    for job in record.jobs.values():
        if job.status in ("running", "failed", "skipped"):
            job.status, job.reason, job.exit_code = "pending", None, None
    record.current_job = None
    record.error = None
    record.failed_state = None
    record.finished = None
    # Images may be gone (removed after use, or a new storage): pull again what is needed.
    record.details.pop("images_present", None)
    record.details.pop("services", None)
