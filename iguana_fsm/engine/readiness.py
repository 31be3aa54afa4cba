"""Whether a running service meets its workflow's readiness rule (``ready:``): a command run in
it with ``sh -c`` exits 0, a TCP port on 127.0.0.1 (services share the host network) accepts a
connection, or a file (already translated to the host's path) exists. Each look is quick and
bounded; the caller polls until its deadline."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any

from iguana_fsm.workflow.model import Readiness

PORT_TIMEOUT = 0.5
"""Seconds one connection attempt may take."""


def met(container: Any, ready: Readiness) -> bool:
    """Whether ``container`` (a podman-py container, running) meets ``ready``'s rule now."""
    if ready.port is not None:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", ready.port), PORT_TIMEOUT).close()
            return True
        return False
    if ready.file is not None:
        return Path(ready.file).exists()
    if ready.command is not None:
        code, _ = container.exec_run(["sh", "-c", ready.command])
        return bool(code == 0)
    return False


def unready(health: str, ready: Readiness) -> str:
    """What a service was missing at its deadline: its rule, its health check, or running."""
    if health == "none":
        return "not running"
    return health if ready.rule is not None else f"health check {health}"
