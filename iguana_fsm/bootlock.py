"""The lock one ``iguana run`` or ``resume`` holds for the whole boot, and the test of it that
``iguana status`` makes: a module of its own so that ``status`` loads nothing of the boot."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from iguana_fsm.errors import UsageError
from iguana_fsm.paths import Paths


@contextlib.contextmanager
def boot_lock(paths: Paths) -> Iterator[None]:
    """Only one ``iguana run`` or ``resume`` at a time; ``status`` tests the same lock."""
    paths.run.mkdir(parents=True, exist_ok=True)
    with (paths.run / "lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"another iguana run or resume is active ({paths.run / 'lock'} is locked)"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def boot_running(paths: Paths) -> bool:
    """Whether an ``iguana run`` or ``resume`` holds the lock now."""
    lock = paths.run / "lock"
    if not lock.exists():
        return False
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
