"""Assembles one boot: paths, command line, record, logger, engine, host and context, and runs
it from the start (``iguana run``) or from a checkpoint (``iguana resume``)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from iguana_fsm import reentry
from iguana_fsm.atomic import remove_stale_temps
from iguana_fsm.bootlock import boot_lock
from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.cmdline import (
    BootConfig,
    parse_cmdline,
    read_cmdline_text,
    redact_cmdline,
    suggest,
    unknown_warnings,
)
from iguana_fsm.console import Mode
from iguana_fsm.engine.base import Engine
from iguana_fsm.engine.lazy import StartOnUse
from iguana_fsm.errors import CheckpointError, ResumeRefused, UsageError
from iguana_fsm.host import Host
from iguana_fsm.log import Progress, make_logger
from iguana_fsm.paths import Paths
from iguana_fsm.record import BootRecord
from iguana_fsm.runner import Runner
from iguana_fsm.stages.base import BootContext, Stage

EngineFactory = Callable[[Paths, str, BootConfig, Any], Engine]
HostFactory = Callable[[Paths], Host]


@dataclass(frozen=True)
class Options:
    """What ``iguana run`` / ``iguana resume`` were asked for."""

    paths: Paths
    cmdline: str | None = None
    workflow: str | None = None
    interactive: bool = True
    fresh: bool = False


def boot_config(
    options: Options,
    stored: str | None = None,
    errors: list[str] | None = None,
    stored_workflow: str | None = None,
) -> tuple[BootConfig, str]:
    """The BootConfig and the command line it came from: ``--cmdline``, else the one stored
    for resume, else ``/proc/cmdline`` (initrd) or nothing (sandbox). ``--workflow`` (else the
    one stored for resume) is set as the configuration's control_url over the command line's,
    never written into the command line's text: words after ``--`` belong to init, and a quote
    in a path must not make other options. With ``errors`` given, bad options are collected
    there instead of raised (see ``parse_cmdline``)."""
    text = options.cmdline
    if text is None:
        text = stored
    if text is None:
        text = "" if options.paths.sandbox else None
    if text is None:
        text = read_cmdline_text(etc=Path("/etc"))
    config = parse_cmdline(text, errors)
    source = workflow_source(options.workflow) if options.workflow is not None else stored_workflow
    if source is not None:
        config = replace(config, control_url=source)
    return config, text


def workflow_source(option: str) -> str:
    """``--workflow`` as rd.iguana.control_url takes it: a URL as given, a path made absolute."""
    return option if "://" in option else str(Path(option).absolute())


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

    def run(self) -> int:
        """A new boot from locate."""
        with boot_lock(self.paths):
            old = self._previous()
            if old is not None and not old.handed_over and not self.options.fresh:
                raise UsageError(
                    f"{self.paths.state}: an unfinished boot (state {old.state}) is "
                    "recorded here: continue it with `iguana resume`, or start over with "
                    "--fresh"
                )
            errors: list[str] = []
            config, text = boot_config(self.options, errors=errors)
            workflow = workflow_source(self.options.workflow) if self.options.workflow else None
            record = BootRecord(run_id=uuid.uuid4().hex, state="locate")
            record.sandbox = self.paths.sandbox
            # secrets of rd.iguana.env stay out of the checkpoint; resume reads the raw text
            record.cmdline = redact_cmdline(text)
            record.warnings.extend(unknown_warnings(config))
            self._keep("cmdline", text)
            # --workflow beside it, for resume to read the same source
            self._keep("workflow", workflow)
            ctx = self._context(config, record)
            ctx.cmdline_errors = errors

            def prepare() -> str:
                if old is not None:
                    # --fresh: the old run's containers and volumes must not leak into this one
                    ctx.engine.remove_leftovers(old.run_id)
                return "locate"

            return Runner(ctx, self.stages).run("locate", prepare)

    def resume(self) -> int:
        """Continue the boot recorded in the checkpoint, refusing a changed workflow."""
        with boot_lock(self.paths):
            if not self.store.exists():
                raise ResumeRefused(
                    f"{self.paths.state}: no checkpoint, nothing to resume (use `iguana run`)"
                )
            record = self.store.load()
            config, _ = boot_config(
                self.options, self._kept("cmdline"), stored_workflow=self._kept("workflow")
            )
            ctx = self._context(config, record)
            entry = reentry.entry_state(record)
            return Runner(ctx, self.stages).run(entry, lambda: reentry.enter(ctx, self.stages))

    def _previous(self) -> BootRecord | None:
        """The boot recorded here before; with --fresh an unreadable one counts as none."""
        if not self.store.exists():
            return None
        try:
            return self.store.load()
        except CheckpointError:
            if self.options.fresh:
                return None
            raise

    def _keep(self, name: str, text: str | None) -> None:
        """Keep the command line as given (secrets included), or the ``--workflow`` source, for
        resume, readable by root only, beside the podman socket rather than in the checkpoint;
        None removes what an earlier boot kept."""
        path = self.paths.run / name
        if text is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)

    def _kept(self, name: str) -> str | None:
        try:
            return (self.paths.run / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

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
        engine = StartOnUse(self.engine_factory(self.paths, record.run_id, config, log))

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
