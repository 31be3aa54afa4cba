"""A job container's end, quicker than podman's wait-and-remove, with nothing left behind.

podman's wait endpoint answers only once a container is ``exited``: after the clean-up that
conmon runs at the container's end, ``podman container cleanup``, a podman process of its own
(~0.1 s a job here). The state ``stopped`` comes first and already holds the exit code (from
conmon's exit file), so ``exit_code`` waits for that. The removal then waits for the clean-up
process (it holds the container's lock), so it runs in the background (``Removals``) while the
next job is created and started; ``settle`` waits, before the engine stops, until no process of
an ended container remains (its conmon, the clean-up process). Standard library only.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Set
from pathlib import Path
from typing import Any

POLL_FIRST = 0.002
"""Seconds between the first looks at an ended job's state; doubled up to ``POLL_MAX``."""

POLL_MAX = 0.1
"""Seconds between later looks (a job whose output closed before it ended)."""

PROC = Path("/proc")


def exit_code(state: Callable[[], Mapping[str, Any]]) -> int:
    """The exit code in a container's inspected ``State`` (``state()`` asks the service) once
    its status is ``stopped`` or ``exited``."""
    pause = POLL_FIRST
    while True:
        found = state()
        if found.get("Status") in ("stopped", "exited"):
            return int(found["ExitCode"])
        time.sleep(pause)
        pause = min(pause * 2, POLL_MAX)


def naming(ids: Set[str], proc: Path = PROC) -> set[str]:
    """The ids of ``ids`` that a running process's command line names as one argument
    (conmon's ``-c ID``, the clean-up's ``container cleanup ID``)."""
    found: set[str] = set()
    wanted = {container_id.encode(): container_id for container_id in ids}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        found.update(wanted[argument] for argument in arguments if argument in wanted)
    return found


def settle(ids: set[str], timeout: float) -> set[str]:
    """Wait at most ``timeout`` seconds until no process names one of ``ids``; empties
    ``ids`` and returns the ids still named at the end (none, normally)."""
    deadline = time.monotonic() + timeout
    left = naming(ids) if ids else set()
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = naming(left)
    ids.clear()
    return left


class Removals:
    """Calls ``remove(container_id)`` for each ``put`` id, in order, in a thread of its own;
    ``drain`` returns once every removal put so far is done. ``remove`` reports its own
    failures: whatever it raises is dropped and the worker goes on."""

    def __init__(self, remove: Callable[[str], None]) -> None:
        self._remove = remove
        self._queue: queue.Queue[str] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, container_id: str) -> None:
        """Remove ``container_id`` soon."""
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="removals", daemon=True)
                self._worker.start()
        self._queue.put(container_id)

    def drain(self) -> None:
        """Return once every removal put so far is done."""
        self._queue.join()

    def _work(self) -> None:
        while True:
            container_id = self._queue.get()
            try:
                self._remove(container_id)
            except Exception:  # ``remove`` logs its own failures
                pass
            finally:
                self._queue.task_done()
