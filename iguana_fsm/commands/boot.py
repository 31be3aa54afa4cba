"""What ``iguana run`` and ``iguana resume`` share: the boot's first steps (``bootstart``) under
the boot lock, the podman service spawned then, and only after that the import of the session
with its engine and host, whose start-up overlaps the service's."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from iguana_fsm import prepared
from iguana_fsm.bootlock import boot_lock
from iguana_fsm.bootstart import Begun, Options, begin_resume, begin_run, head_start
from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.commands.options import check_initrd, paths_of
from iguana_fsm.paths import Paths

if TYPE_CHECKING:
    from iguana_fsm.cmdline import BootConfig
    from iguana_fsm.engine.base import Engine
    from iguana_fsm.host import Host
    from iguana_fsm.session import EngineFactory, Session


def make_engine(paths: Paths, run_id: str, config: BootConfig, log: Any) -> Engine:
    """The podman engine, with the trust policy in its HOME (the session starts it on use)."""
    from iguana_fsm.engine.podman import PodmanEngine
    from iguana_fsm.trust.policy import prepare_engine_env

    overlay = prepare_engine_env(config, paths)
    return PodmanEngine(paths, run_id, env_overlay=overlay, log=log)


def engine_for(begun: Begun) -> EngineFactory:
    """``make_engine``, or an engine on the service ``begun`` spawned already."""
    service = begun.service
    if service is None:
        return make_engine

    def started(paths: Paths, run_id: str, config: BootConfig, log: Any) -> Engine:
        from iguana_fsm.engine.podman import PodmanEngine

        return PodmanEngine(paths, run_id, env_overlay=begun.overlay, log=log, api=service)

    return started


def make_host(paths: Paths) -> Host:
    """The sandbox host records the ending; the initrd host carries it out."""
    from iguana_fsm.host import InitrdHost, SandboxHost

    return SandboxHost() if paths.sandbox else InitrdHost()


def options_of(args: argparse.Namespace, workflow: str | None = None) -> Options:
    """The boot the flags describe; UsageError outside an initrd (``check_initrd``)."""
    check_initrd(args)
    return Options(
        paths=paths_of(args),
        cmdline=args.cmdline,
        workflow=workflow,
        interactive=not args.batch,
        fresh=getattr(args, "fresh", False),
    )


def session(options: Options, begun: Begun | None = None) -> Session:
    """The boot session of ``options`` (on the service ``begun`` spawned, if it did)."""
    from iguana_fsm.session import Session
    from iguana_fsm.stages import default_stages

    engine = make_engine if begun is None else engine_for(begun)
    return Session(options, default_stages(), engine, make_host)


def load_session() -> None:
    """Import what ``session`` and the engine import, ahead of them (while the initrd is
    still prepared)."""
    import iguana_fsm.engine.podman
    import iguana_fsm.session
    import iguana_fsm.stages  # noqa: F401


def run(args: argparse.Namespace, workflow: str | None) -> int:
    """``iguana run``: the boot's exit code."""
    prepared.wait(load_session)
    options = options_of(args, workflow)
    store = CheckpointStore(options.paths.state)
    with boot_lock(options.paths):
        begun = begin_run(options, store)
        with head_start(begun, store, options.paths):
            return session(options, begun).run(begun)


def resume(args: argparse.Namespace) -> int:
    """``iguana resume``: the boot's exit code."""
    prepared.wait(load_session)
    options = options_of(args)
    store = CheckpointStore(options.paths.state)
    with boot_lock(options.paths):
        begun = begin_resume(options, store)
        with head_start(begun, store, options.paths):
            return session(options, begun).resume(begun)
