"""``python -m tests.support.kill_at POINT IGUANA-ARGS...``: run ``iguana IGUANA-ARGS`` and kill
it with SIGKILL at POINT, a known point of a real boot:

* ``STATE`` or ``STATE@N``: as the boot enters STATE (the N-th time in this process, default the
  first), after the transition was checkpointed and before the state's stage does anything;
* ``write:NAME`` or ``write:NAME@STATE``: inside the atomic write of ``/iguana/NAME`` (of the
  checkpoint recording STATE), when the temp file is written and fsynced but not yet renamed;
* ``call:MODULE:QUALNAME``: as the function QUALNAME of MODULE is called (e.g.
  ``call:iguana_fsm.engine.api:PodmanApiProcess._wait_ready``: the podman service started,
  not yet answering).

The process dies as it would from ``kill -9``: no handler, no clean-up runs.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import iguana_fsm.stages as stages
from iguana_fsm import cli
from iguana_fsm.paths import Paths
from iguana_fsm.stages.base import BootContext, Stage


def die() -> None:
    """SIGKILL to this process."""
    os.kill(os.getpid(), signal.SIGKILL)


def kill_at_entry(state: str, nth: int) -> None:
    """Make the stage of ``state`` kill the process the ``nth`` time it is called."""
    original = stages.default_stages
    calls = {"n": 0}

    def killing() -> dict[str, Stage]:
        table = original()
        stage = table[state]

        def entered(ctx: BootContext) -> str:
            calls["n"] += 1
            if calls["n"] == nth:
                die()
            return stage(ctx)

        table[state] = entered
        return table

    stages.default_stages = killing


def kill_in_write(target: Path, state: str | None) -> None:
    """Make the atomic write of ``target`` (recording ``state``) kill the process before its
    rename."""
    real: Callable[..., Any] = os.replace

    def replace(source: Any, destination: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(destination) == target and (
            state is None or json.loads(Path(source).read_bytes()).get("state") == state
        ):
            die()
        return real(source, destination, *args, **kwargs)

    os.replace = replace  # type: ignore[assignment]


def kill_in_call(module: str, qualname: str) -> None:
    """Make the function ``qualname`` of ``module`` kill the process when it is called."""
    *owners, name = qualname.split(".")
    holder: Any = importlib.import_module(module)
    for owner in owners:
        holder = getattr(holder, owner)

    def killing(*_args: Any, **_kwargs: Any) -> None:
        die()

    setattr(holder, name, killing)


def arm(point: str, args: list[str]) -> None:
    """Arm the kill at ``point`` for ``iguana args`` (which name the sandbox)."""
    if point.startswith("call:"):
        module, _, qualname = point.removeprefix("call:").partition(":")
        kill_in_call(module, qualname)
        return
    if point.startswith("write:"):
        name, _, state = point.removeprefix("write:").partition("@")
        top = Path(args[args.index("--sandbox") + 1])
        kill_in_write(Paths.for_sandbox(top).iguana / name, state or None)
        return
    state, _, nth = point.partition("@")
    kill_at_entry(state, int(nth or 1))


if __name__ == "__main__":
    arm(sys.argv[1], sys.argv[2:])
    sys.exit(cli.main(sys.argv[2:]))
