"""The first steps of ``iguana run`` and ``iguana resume``: what the boot reads before anything
else (the checkpoint, the command line), the first checkpoint of a new boot, and the podman
service's spawn.

Light on purpose (no session, stages, engine client, podman-py, requests or structlog):
``commands/boot.py`` runs it before it imports the rest of the boot, so that the service starts
while Python imports (``head_start``). The first checkpoint is saved before the service is
spawned: a kill at any moment after the spawn leaves a boot that ``iguana resume`` finds, and
the resume ends the service the killed run left (``engine/api.py``, ``_reclaim_orphan``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.cmdline import (
    BootConfig,
    parse_cmdline,
    read_cmdline_text,
    redact_cmdline,
    unknown_warnings,
)
from iguana_fsm.engine.api import LaterLog, PodmanApiProcess
from iguana_fsm.errors import CheckpointError, IguanaError, ResumeRefused, UsageError
from iguana_fsm.paths import Paths
from iguana_fsm.record import BootRecord
from iguana_fsm.trust.policy import prepare_engine_env


@dataclass(frozen=True)
class Options:
    """What ``iguana run`` / ``iguana resume`` were asked for."""

    paths: Paths
    cmdline: str | None = None
    workflow: str | None = None
    interactive: bool = True
    fresh: bool = False


@dataclass
class Begun:
    """A boot ready to be assembled: its configuration and record (new, or read from the
    checkpoint), the command line's bad options, whether the boot is a new one and the boot
    recorded before it (``old``), and the podman service spawned for it with its environment
    overlay (``head_start``)."""

    config: BootConfig
    record: BootRecord
    errors: list[str] = field(default_factory=list)
    new: bool = False
    old: BootRecord | None = None
    service: PodmanApiProcess | None = None
    overlay: dict[str, str] = field(default_factory=dict)


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


def begin_run(options: Options, store: CheckpointStore) -> Begun:
    """A new boot's configuration and record; UsageError when an unfinished boot is recorded
    (unless ``--fresh``). The command line and ``--workflow`` are kept for resume."""
    old = previous(store, options.fresh)
    if old is not None and not old.handed_over and not options.fresh:
        raise UsageError(
            f"{options.paths.state}: an unfinished boot (state {old.state}) is recorded here: "
            "continue it with `iguana resume`, or start over with --fresh"
        )
    errors: list[str] = []
    config, text = boot_config(options, errors=errors)
    workflow = workflow_source(options.workflow) if options.workflow else None
    record = BootRecord(run_id=uuid.uuid4().hex, state="locate")
    record.sandbox = options.paths.sandbox
    # secrets of rd.iguana.env stay out of the checkpoint; resume reads the raw text
    record.cmdline = redact_cmdline(text)
    record.warnings.extend(unknown_warnings(config))
    keep(options.paths, "cmdline", text)
    # --workflow beside it, for resume to read the same source
    keep(options.paths, "workflow", workflow)
    return Begun(config, record, errors, new=True, old=old)


def begin_resume(options: Options, store: CheckpointStore) -> Begun:
    """The recorded boot and its configuration (the command line and ``--workflow`` kept by
    its run); ResumeRefused when there is no checkpoint."""
    if not store.exists():
        raise ResumeRefused(
            f"{options.paths.state}: no checkpoint, nothing to resume (use `iguana run`)"
        )
    record = store.load()
    paths = options.paths
    config, _ = boot_config(
        options, kept(paths, "cmdline"), stored_workflow=kept(paths, "workflow")
    )
    return Begun(config, record)


@contextlib.contextmanager
def head_start(begun: Begun, store: CheckpointStore, paths: Paths) -> Iterator[None]:
    """Spawn the podman service for ``begun`` now, to be waited for when the boot first needs
    it, and stop it on leaving when the boot did not (it normally has). A new boot's first
    checkpoint is saved before; a boot that replaces an earlier one (``old``) starts its
    service when it removes that one's leftovers instead. A spawn that fails leaves the start
    to the boot, whose stage then records why."""
    if begun.old is None:
        if begun.new:
            paths.iguana.mkdir(parents=True, exist_ok=True)
            store.save(begun.record)
        with contextlib.suppress(IguanaError, OSError):
            overlay = prepare_engine_env(begun.config, paths)
            service = PodmanApiProcess(paths, env=overlay, log=LaterLog())
            service.spawn()
            begun.service, begun.overlay = service, overlay
    try:
        yield
    finally:
        if begun.service is not None:
            begun.service.stop()


def previous(store: CheckpointStore, fresh: bool) -> BootRecord | None:
    """The boot recorded here before; with ``fresh`` an unreadable one counts as none."""
    if not store.exists():
        return None
    try:
        return store.load()
    except CheckpointError:
        if fresh:
            return None
        raise


def keep(paths: Paths, name: str, text: str | None) -> None:
    """Keep the command line as given (secrets included), or the ``--workflow`` source, for
    resume, readable by root only, beside the podman socket rather than in the checkpoint;
    None removes what an earlier boot kept."""
    path = paths.run / name
    if text is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def kept(paths: Paths, name: str) -> str | None:
    """What ``keep`` kept, or None."""
    try:
        return (paths.run / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
