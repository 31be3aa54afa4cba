"""How far an image pull has got, while podman's own API says nothing of it.

podman 4.3's libpod pull reports text lines only ("Copying blob sha256:..."), no bytes. But the
podman service writes every blob it downloads into a file of its own, in a ``storage*``
directory under its big-files temporary directory (``/var/tmp``), and removes it once the layer
is stored. The files the service has open there, each at the largest size seen, summed, are what
has arrived so far: read from ``/proc/PID/fd`` of the service, so that another podman on the
same machine (a workstation's, beside a sandbox) is not counted. The total is not known before
the pull ends.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


STALLED = 5.0
"""Seconds after which a pull that has brought no bytes yet is shown anyway."""


class PullMeter:
    """Logs ``pull.progress`` (image, bytes ``done``, ``rate`` in bytes/s, ``seconds``) every
    ``interval`` seconds while the service whose pid is in ``pid_file`` pulls (``with``), and
    once more, ``final``, at the end of a pull that took longer than that (a quick pull is no
    news)."""

    def __init__(
        self,
        pid_file: Path,
        image: str,
        log: Any,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        proc: Path = Path("/proc"),
    ) -> None:
        self.image, self.log = image, log
        self.interval, self._clock = interval, clock
        self._fds: Path | None = None
        with contextlib.suppress(OSError, ValueError):
            self._fds = proc / str(int(pid_file.read_text().split()[0])) / "fd"
        self._sizes: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="pull-meter", daemon=True)

    def __enter__(self) -> PullMeter:
        self._started = self._last_time = self._clock()
        self._last_done = 0
        self._shown = False
        if self._fds is not None:
            self._thread.start()
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        done = self._sample() if kind is None and self._shown else 0
        if done:
            seconds = self._clock() - self._started
            rate = done / seconds if seconds > 0 else None
            self._emit(done, rate, seconds, final=True)

    def follow(self, stream: Iterable[T]) -> Iterator[T]:
        """The items of ``stream`` (the pull's), measured while they come."""
        with self:
            yield from stream

    def blobs(self) -> list[str]:
        """The blob files the service has open now."""
        found = []
        with contextlib.suppress(OSError):
            for fd in os.listdir(self._fds or "/nonexistent"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"{self._fds}/{fd}")
                    if target.startswith("/") and os.path.basename(
                        os.path.dirname(target)
                    ).startswith("storage"):
                        found.append(target)
        return found

    def _sample(self) -> int:
        """Bytes downloaded so far: each blob file at the largest size seen."""
        for path in {*self.blobs(), *self._sizes}:
            with contextlib.suppress(OSError):
                size = os.stat(path).st_size
                self._sizes[path] = max(size, self._sizes.get(path, 0))
        return sum(self._sizes.values())

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            now, done = self._clock(), self._sample()
            rate = (done - self._last_done) / max(now - self._last_time, 1e-6)
            self._last_time, self._last_done = now, done
            # nothing seen yet is no news, until a stalled pull is worth a word
            if done or now - self._started >= STALLED:
                self._shown = True
                self._emit(done, rate, now - self._started, final=False)

    def _emit(self, done: int, rate: float | None, seconds: float, *, final: bool) -> None:
        self.log.info(
            "pull.progress",
            image=self.image,
            done=done,
            total=done if final else None,
            rate=round(rate) if rate else None,
            seconds=round(seconds, 1),
            final=final,
        )
