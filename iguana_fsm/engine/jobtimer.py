"""A job's timeout: a timer armed once the container runs (a module of its own to keep
``podman.py`` within the size rule)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class JobTimer:
    """Calls ``expire(expired)`` after ``timeout`` seconds, once armed; ``expired`` is set then."""

    def __init__(self, timeout: float | None, expire: Callable[[threading.Event], None]) -> None:
        self.timeout = timeout
        self.expired = threading.Event()
        self._expire = expire
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        """Start counting (once the container runs)."""
        if self.timeout is not None:
            self._timer = threading.Timer(self.timeout, self._expire, (self.expired,))
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        """Stop counting."""
        if self._timer is not None:
            self._timer.cancel()
