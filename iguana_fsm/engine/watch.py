"""What watches a running job: its timer (``JobTimer``) and its peak memory (``PeakSampler``).

The peak memory comes from the job container's cgroup: ``memory.peak`` (cgroup v2, the initrd's) or
``memory.max_usage_in_bytes`` (a v1 memory controller, as on hybrid hosts).

The cgroup goes with the container, so a thread reads the high-water mark while the job runs
(every ``INTERVAL`` seconds, and once more when told to stop); the kernel keeps the maximum,
so only growth in the last interval before the cgroup went can be missed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
INTERVAL = 0.2
LOOK = 0.01


class PeakSampler:
    """Reads a container's cgroup peak memory until stopped; ``bytes`` is the largest value
    read. Started before the container, it looks for the cgroup podman names after the
    container's id (``libpod-ID``, or ``libpod-ID.scope`` under systemd) every ``LOOK``
    seconds, so that a job of a fraction of a second is still seen."""

    def __init__(self, root: Path = CGROUP_ROOT) -> None:
        self.bytes: int | None = None
        self.source: Path | None = None
        self._root = root
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, container_id: str) -> None:
        """Begin watching for the cgroup of ``container_id``."""
        self._thread = threading.Thread(target=self._loop, args=(container_id,), daemon=True)
        self._thread.start()

    def stop(self) -> int | None:
        """Stop sampling (after one last read); the peak seen."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.bytes

    def find(self, container_id: str) -> Path | None:
        """The peak file of the container's cgroup, if it exists now."""
        for pattern in cgroup_patterns(container_id):
            for found in self._root.glob(pattern):
                return found
        return None

    def _loop(self, container_id: str) -> None:
        look = LOOK
        while self.source is None:
            self.source = self.find(container_id)
            if self.source is None and self._stop.wait(look):
                return
            # no memory controller, or a slow start: look less often as time goes by
            look = min(look * 1.5, 1.0)
        assert self.source is not None
        while self._read(self.source) and not self._stop.wait(INTERVAL):
            pass
        self._read(self.source)

    def _read(self, source: Path) -> bool:
        try:
            value = int(source.read_text(encoding="ascii").split()[0])
        except (OSError, ValueError, IndexError):
            return False
        self.bytes = max(self.bytes or 0, value)
        return True


def cgroup_patterns(container_id: str) -> list[str]:
    """Globs (below the cgroup root) of a podman container's peak file: cgroupfs puts it in
    ``PARENT/libpod-ID``, systemd in ``SLICE/libpod-ID.scope``; v2 at the root or under
    ``unified/`` (a hybrid host), v1 under ``memory/``."""
    names = [f"libpod-{container_id}", f"libpod-{container_id}.scope"]
    patterns = []
    for name in names:
        patterns += [f"*/{name}/memory.peak", f"unified/*/{name}/memory.peak"]
        patterns.append(f"memory/*/{name}/memory.max_usage_in_bytes")
    return patterns


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
