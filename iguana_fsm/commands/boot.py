"""What ``iguana run`` and ``iguana resume`` share: the session with its engine and host."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from iguana_fsm.commands.options import check_initrd, paths_of
from iguana_fsm.paths import Paths

if TYPE_CHECKING:
    from iguana_fsm.cmdline import BootConfig
    from iguana_fsm.engine.base import Engine
    from iguana_fsm.host import Host
    from iguana_fsm.session import Session


def make_engine(paths: Paths, run_id: str, config: BootConfig, log: Any) -> Engine:
    """The podman engine, with the trust policy in its HOME (the session starts it on use)."""
    from iguana_fsm.engine.podman import PodmanEngine
    from iguana_fsm.trust.policy import prepare_engine_env

    overlay = prepare_engine_env(config, paths)
    return PodmanEngine(paths, run_id, env_overlay=overlay, log=log)


def make_host(paths: Paths) -> Host:
    """The sandbox host records the ending; the initrd host carries it out."""
    from iguana_fsm.host import InitrdHost, SandboxHost

    return SandboxHost() if paths.sandbox else InitrdHost()


def session(args: argparse.Namespace, workflow: str | None = None) -> Session:
    """The boot session the flags describe; UsageError outside an initrd (``check_initrd``)."""
    check_initrd(args)
    from iguana_fsm.session import Options, Session
    from iguana_fsm.stages import default_stages

    options = Options(
        paths=paths_of(args),
        cmdline=args.cmdline,
        workflow=workflow,
        interactive=not args.batch,
        fresh=getattr(args, "fresh", False),
    )
    return Session(options, default_stages(), make_engine, make_host)
