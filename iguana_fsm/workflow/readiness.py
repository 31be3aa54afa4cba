"""A service's entry in a workflow: its container, its readiness rule (``ready:``) and its stop
grace (``stop-grace-seconds``), checked as ``validator`` checks the rest of the language.

Kept apart from ``validator`` so that module stays within its size; it walks with the
validator's ``_Walk`` (problems, mappings, known keys).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from yaml.nodes import Node, ScalarNode

from iguana_fsm.workflow import grammar
from iguana_fsm.workflow.model import (
    READY_TIMEOUT_SECONDS,
    STOP_GRACE_SECONDS,
    Readiness,
    Service,
)
from iguana_fsm.workflow.problem import show

if TYPE_CHECKING:
    from iguana_fsm.workflow.validator import Entries, _Walk

_PORT = re.compile(r"[0-9]{1,5}")
_SECONDS = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
IGUANA = "/iguana/"


def service(
    walk: _Walk, name: str, entry: tuple[ScalarNode, Node], path: str, job_env: dict[str, str]
) -> Service:
    """The Service an entry of ``services:`` describes, its problems reported on ``walk``."""
    key, node = entry
    entries = walk.mapping(node, path)
    if entries is None:
        return Service(id=name, container=walk.container(entry, path, job_env))
    walk.known(entries, grammar.SERVICE_KEYS, path, key)
    container = walk.container(entry, path, job_env, entries)
    ready = Readiness()
    if "ready" in entries:
        ready = _ready(walk, entries["ready"][1], f"{path}.ready")
    grace = _seconds_or(walk, entries, "stop-grace-seconds", path, STOP_GRACE_SECONDS)
    return Service(id=name, container=container, ready=ready, stop_grace=grace)


def _seconds_or(walk: _Walk, entries: Entries, key: str, path: str, default: float) -> float:
    """The seconds under ``key`` of a mapping at ``path``; ``default`` when absent or refused."""
    if key not in entries:
        return default
    return _seconds(walk, entries[key][1], f"{path}.{key}") or default


def _ready(walk: _Walk, node: Node, path: str) -> Readiness:
    entries = walk.mapping(node, path)
    if entries is None:
        return Readiness()
    walk.known(entries, grammar.READY_KEYS, path, node)
    rules = [name for name in grammar.READY_RULES if name in entries]
    if len(rules) != 1:
        found = ", ".join(rules) if rules else "none"
        walk.problem(node, path, f"give exactly one of command, port or file (found: {found})")
    command = port = file = None
    if "command" in entries:
        command = walk.scalar(entries["command"][1], f"{path}.command", "a shell command")
    if "port" in entries:
        port = _port(walk, entries["port"][1], f"{path}.port")
    if "file" in entries:
        file = _file(walk, entries["file"][1], f"{path}.file")
    timeout = _seconds_or(walk, entries, "timeout-seconds", path, READY_TIMEOUT_SECONDS)
    return Readiness(command=command, port=port, file=file, timeout=timeout)


def _plain(node: Node) -> str | None:
    """The text of a plain (unquoted) scalar, None for anything else."""
    if isinstance(node, ScalarNode) and not node.style:
        return str(node.value)
    return None


def _shown(node: Node) -> str:
    if not isinstance(node, ScalarNode):
        return "a collection"
    text = str(node.value)
    shown = show(text) if len(text) <= 40 else f"a text of {len(text)} characters"
    return f"the quoted text {shown}; write it without quotes" if node.style else shown


def _port(walk: _Walk, node: Node, path: str) -> int | None:
    text = _plain(node)
    if text is not None and _PORT.fullmatch(text) and 1 <= int(text) <= 65535:
        return int(text)
    walk.problem(node, path, f"expected a TCP port from 1 to 65535, found {_shown(node)}")
    return None


def _seconds(walk: _Walk, node: Node, path: str) -> float | None:
    text = _plain(node)
    if text is not None and _SECONDS.fullmatch(text) and 0 < float(text) <= grammar.MAX_SECONDS:
        return float(text)
    walk.problem(
        node,
        path,
        f"expected a number of seconds above 0 and at most {grammar.MAX_SECONDS:.0f}, "
        f"found {_shown(node)}",
    )
    return None


def _file(walk: _Walk, node: Node, path: str) -> str | None:
    text = walk.scalar(node, path, f"a path under {IGUANA}")
    if text is None:
        return None
    parts = PurePosixPath(text).parts
    if not text.startswith(IGUANA) or len(parts) < 3 or ".." in parts:
        walk.problem(node, path, f"expected a path under {IGUANA} without '..', found {show(text)}")
        return None
    return text
