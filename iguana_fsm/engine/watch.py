"""What watches a running job: its timer (``JobTimer``) and its peak memory (``PeakSampler``).

The peak memory comes from the job container's cgroup: ``memory.peak`` (cgroup v2, the initrd's) or
``memory.max_usage_in_bytes`` (a v1 memory controller, as on hybrid hosts).

The cgroup goes with the container, so a thread reads the high-water mark while the job runs
(every ``INTERVAL`` seconds, and once at once); the kernel keeps the maximum, so only growth
in the last interval before the end can be missed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
INTERVAL = 0.2


def peak_file(pid: int, root: Path = CGROUP_ROOT) -> Path | None:
    """The file holding the peak memory of the cgroup process ``pid`` is in, if any."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        number, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if number == "0" and controllers == "":
            candidate = root / relative / "memory.peak"
            if not candidate.exists() and (root / "unified").is_dir():
                candidate = root / "unified" / relative / "memory.peak"
        elif "memory" in controllers.split(","):
            candidate = root / "memory" / relative / "memory.max_usage_in_bytes"
        else:
            continue
        if candidate.is_file():
            return candidate
    return None


class PeakSampler:
    """Reads a cgroup's peak memory until stopped; ``bytes`` is the largest value read."""

    def __init__(self) -> None:
        self.bytes: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int | None) -> None:
        """Begin sampling the cgroup of ``pid`` (the container's first process)."""
        source = peak_file(pid) if pid else None
        if source is None:
            return
        self._read(source)
        self._thread = threading.Thread(target=self._loop, args=(source,), daemon=True)
        self._thread.start()

    def stop(self) -> int | None:
        """Stop sampling; the peak seen."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.bytes

    def _loop(self, source: Path) -> None:
        while not self._stop.wait(INTERVAL):
            if not self._read(source):
                return

    def _read(self, source: Path) -> bool:
        try:
            value = int(source.read_text(encoding="ascii").split()[0])
        except (OSError, ValueError, IndexError):
            return False
        self.bytes = max(self.bytes or 0, value)
        return True


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
