"""Assembles one boot: paths, command line, record, logger, engine, host and context, and runs
it from the start (``iguana run``) or from a checkpoint (``iguana resume``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from iguana_fsm import reentry
from iguana_fsm.atomic import remove_stale_temps
from iguana_fsm.bootlock import boot_lock
from iguana_fsm.bootstart import (
    Begun,
    Options,
    begin_resume,
    begin_run,
)
from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.cmdline import BootConfig, suggest
from iguana_fsm.console import Mode
from iguana_fsm.engine.base import Engine
from iguana_fsm.engine.lazy import StartOnUse
from iguana_fsm.errors import CheckpointError
from iguana_fsm.host import Host
from iguana_fsm.log import Progress, make_logger
from iguana_fsm.paths import Paths
from iguana_fsm.record import BootRecord
from iguana_fsm.runner import Runner
from iguana_fsm.stages.base import BootContext, Stage

EngineFactory = Callable[[Paths, str, BootConfig, Any], Engine]
HostFactory = Callable[[Paths], Host]


def console_mode(config: BootConfig) -> Mode:
    """What the console shows: everything with ``rd.iguana.debug`` or ``rd.debug``, only
    progress and problems with ``quiet``, else one line per step."""
    if config.debug or config.dracut_debug:
        return Mode.DEBUG
    return Mode.QUIET if config.quiet else Mode.NORMAL


class Session:
    """One boot's assembled parts; ``run()`` and ``resume()`` return the exit code."""

    def __init__(
        self,
        options: Options,
        stages: Mapping[str, Stage],
        engine_factory: EngineFactory,
        host_factory: HostFactory,
        console: Any = None,
    ) -> None:
        self.options = options
        self.paths = options.paths
        self.stages = stages
        self.engine_factory = engine_factory
        self.host_factory = host_factory
        # looked up now, not at import: sys.stderr may have been replaced since
        self.console = console if console is not None else sys.stderr
        self.store = CheckpointStore(self.paths.state)

    def run(self, begun: Begun | None = None) -> int:
        """A new boot from locate; ``begun``: its first steps taken already, under the boot
        lock that the caller holds (``commands/boot.py``)."""
        if begun is None:
            with boot_lock(self.paths):
                return self._run(begin_run(self.options, self.store))
        return self._run(begun)

    def _run(self, begun: Begun) -> int:
        ctx = self._context(begun.config, begun.record)
        ctx.cmdline_errors = begun.errors
        old = begun.old

        def prepare() -> str:
            if old is not None:
                # --fresh: the old run's containers and volumes must not leak into this one
                ctx.engine.remove_leftovers(old.run_id)
            return "locate"

        return Runner(ctx, self.stages, self._start_engine(ctx)).run("locate", prepare)

    def resume(self, begun: Begun | None = None) -> int:
        """Continue the boot recorded in the checkpoint, refusing a changed workflow;
        ``begun`` as for ``run``."""
        if begun is None:
            with boot_lock(self.paths):
                return self._resume(begin_resume(self.options, self.store))
        return self._resume(begun)

    def _resume(self, begun: Begun) -> int:
        ctx = self._context(begun.config, begun.record)
        entry = reentry.entry_state(begun.record)
        runner = Runner(ctx, self.stages, self._start_engine(ctx))
        return runner.run(entry, lambda: reentry.enter(ctx, self.stages))

    @staticmethod
    def _start_engine(ctx: BootContext) -> Callable[[], None] | None:
        """The podman service starts in the background while locate, fetch and verify's
        checks run, which need no engine; verify's first pull waits for it."""
        engine = ctx.engine
        return engine.start_soon if isinstance(engine, StartOnUse) else None

    def _context(self, config: BootConfig, record: BootRecord) -> BootContext:
        log_failures: list[OSError] = []
        log = make_logger(
            self.paths.log,
            self.console,
            console_mode(config),
            on_failure=log_failures.append,
            run_id=record.run_id[:8],
        )
        for name in config.unknown:
            hint = suggest(name)
            log.warning(
                "cmdline.unknown",
                option=f"rd.iguana.{name}",
                hint=f"did you mean rd.iguana.{hint}?" if hint else None,
            )
        self.paths.iguana.mkdir(parents=True, exist_ok=True)
        # the temp files of atomic writes that a killed run left (the checkpoint's, the machine
        # id's, the workflow copy's); a live writer's are safe (iguana_fsm/atomic.py)
        written = (self.paths.state, self.paths.machine_id, self.paths.workflow_copy)
        stale = remove_stale_temps(self.paths.iguana, [path.name for path in written])
        if stale:
            log.warning("boot.stale_temp_removed", files=[str(path) for path in stale])
        engine = StartOnUse(
            self.engine_factory(self.paths, record.run_id, config, log),
            on_started=lambda took, waited: record.timings.set_engine(took, waited),
        )

        def save() -> None:
            if log_failures:
                # the log is part of the boot's record: without it the boot stops here, the
                # checkpoint kept as it was last written (exit 8)
                raise CheckpointError(
                    f"{self.paths.log}: cannot write the boot's log: {log_failures[0].strerror}"
                )
            self.store.save(record)
            log.debug("checkpoint.saved", state=record.state)

        return BootContext(
            config=config,
            paths=self.paths,
            engine=engine,
            host=self.host_factory(self.paths),
            record=record,
            log=log,
            progress=Progress(self.paths.progress),
            save=save,
            interactive=self.options.interactive,
            console=self.console,
        )
