"""Drives the machine: runs the stage of each state, fires the trigger it returns, and
checkpoints every transition. It never asks which stage it runs."""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Callable, Mapping
from typing import Any

from transitions import EventData

from iguana_fsm.errors import CheckpointError, ExitCode, IguanaError, ResumeRefused
from iguana_fsm.machine import END, FAILURE_STATES, build_machine
from iguana_fsm.memory.budget import mem_available
from iguana_fsm.record import BootError, Transition
from iguana_fsm.stages.base import BootContext, Stage


class Runner:
    """One pass of the machine from a given state until a stage returns END."""

    def __init__(self, ctx: BootContext, stages: Mapping[str, Stage]) -> None:
        self.ctx = ctx
        self.stages = stages
        self.save = ctx.save

    def run(self, initial: str = "locate", prepare: Callable[[], str] | None = None) -> int:
        """Run from ``initial`` to an ending or to rescue; the exit code of the boot.
        ``prepare`` runs first, inside the same clean-up (the engine is stopped after it), and
        names the state to start in; its expected errors fail ``initial`` as a stage's would
        (ResumeRefused is raised: a refused resume records nothing)."""
        record = self.ctx.record
        try:
            initial, trigger = self._prepare(initial, prepare)
            model = build_machine(initial, self._on_transition)
            record.state = initial
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
        except ResumeRefused:
            self._stop_engine(save=False)
            raise
        except Exception as error:  # a bug outside any stage: keep the traceback in the log
            self.ctx.log.error("runner.crashed", state=record.state, exc_info=True)
            if record.error is None:
                message = f"internal error: {type(error).__name__}: {error}"
                record.error = BootError(record.state, message, ExitCode.INTERNAL)
            with contextlib.suppress(IguanaError):
                self.save()
            self._stop_engine(save=True)
            return ExitCode.INTERNAL
        except BaseException:
            self._stop_engine(save=False)
            raise
        self._stop_engine(save=True)
        if record.error is not None:
            return record.error.code
        return ExitCode.OK

    def _prepare(self, initial: str, prepare: Callable[[], str] | None) -> tuple[str, str | None]:
        """Run ``prepare``: the state to start in, and ``fail`` (recorded as a failure of
        ``initial``) when it raised an expected error, else None (run the state's stage)."""
        if prepare is None:
            return initial, None
        try:
            return prepare(), None
        except (CheckpointError, ResumeRefused):
            raise
        except IguanaError as error:
            return initial, self._failure(initial, str(error), error.exit_code, error.details)
        except OSError as error:
            full = no_space(error)
            if full is None:
                raise
            raise full from None

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
            full = no_space(error)
            if full is not None:
                raise full from None
            self.ctx.log.error("stage.crashed", state=state, exc_info=True)
            message = f"internal error in {state}: {type(error).__name__}: {error}"
            return self._failure(state, message, ExitCode.INTERNAL, {})

    def _failure(self, state: str, message: str, code: ExitCode, details: Mapping[str, Any]) -> str:
        record = self.ctx.record
        if state in FAILURE_STATES:
            # The failure path itself failed: keep the first error, end the boot.
            self.ctx.log.error("rescue.failed", state=state, error=message)
            if record.error is None:
                record.error = BootError(state, message, code)
            return END
        error = BootError(state, message, code)
        problems = details.get("problems")
        if isinstance(problems, list):
            error.problems = [str(problem) for problem in problems]
        job = details.get("job")
        if isinstance(job, str):
            error.job = job
            if job in record.jobs:
                error.exit_code = record.jobs[job].exit_code
                error.tail = list(record.jobs[job].tail)
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
        available = mem_available()
        record.add_transition(Transition(source, dest, event.event.name, mem_available=available))
        if dest == "rescue":
            # rescue is over once entered; an ending only once carried out (stages/endings.py)
            record.finished = time.time()
        self.save()
        self.ctx.log.info(
            "state.entered",
            state=dest,
            source=source,
            trigger=event.event.name,
            mem_available=available,
        )
        self.ctx.progress(f"Iguana: {dest}")


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def no_space(error: BaseException) -> CheckpointError | None:
    """A full file system (``/iguana``, where the checkpoint, log, workflow copy and machine id
    live, or the run directory) as the CheckpointError it amounts to: the boot cannot keep its
    record, so it stops with exit 8 instead of failing over into states it cannot record."""
    if not isinstance(error, OSError) or error.errno not in NO_SPACE:
        return None
    where = error.filename or "a file of the boot"
    return CheckpointError(f"{where}: {error.strerror}: the boot cannot keep its files")
