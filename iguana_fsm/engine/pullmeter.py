"""How far an image pull has got, while podman's own API says nothing of it.

podman 4.3's libpod pull reports text lines only ("Copying blob sha256:..."), no bytes. But the
podman service writes every blob it downloads into a file of its own, in a ``storage*``
directory under its big-files temporary directory (``/var/tmp``), and removes it once the layer
is stored. The files the service has open there, each at the largest size seen, summed, are what
has arrived so far: read from ``/proc/PID/fd`` of the service, so that another podman on the
same machine (a workstation's, beside a sandbox) is not counted.

The total comes from the registry's manifest, which the memory plan reads before any pull
(``engine/remote.py``): the config and the layers that container storage does not hold yet (by
their compressed digest, as containers/storage lists them in ``<driver>-layers/layers.json``;
podman reuses those instead of downloading them). A pull of an image nobody sized in this run
(a resumed boot's pull before a job, its verify done by the run that was killed) reads the
manifest first. When the registry cannot say, the total is unknown and the meter shows the bytes
alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from iguana_fsm.engine.base import RemoteImage

T = TypeVar("T")


STALLED = 5.0
"""Seconds after which a pull that has brought no bytes yet is shown anyway."""

LAYERS_MAX = 64 * 1024 * 1024
"""Bytes of a storage's layers.json read at most (a file larger than that is not read)."""


def stored_layers(graphroot: Path) -> set[str]:
    """The compressed digests of the layers in the container storage at ``graphroot``: each
    driver's ``<driver>-layers/layers.json`` (containers/storage's own list, one object a
    layer with ``compressed-diff-digest``); an unreadable list counts as no layers."""
    found: set[str] = set()
    for listing in graphroot.glob("*-layers/layers.json"):
        with contextlib.suppress(OSError, ValueError):
            with listing.open("rb") as handle:
                layers = json.loads(handle.read(LAYERS_MAX))
            for layer in layers if isinstance(layers, list) else ():
                digest = layer.get("compressed-diff-digest") if isinstance(layer, dict) else None
                if isinstance(digest, str):
                    found.add(digest)
    return found


def to_download(image: RemoteImage, stored: set[str]) -> int | None:
    """The bytes a pull of ``image`` downloads: its config and each distinct layer not in
    ``stored``; None when the manifest's layers are not known."""
    if not image.layer_sizes:
        return None
    layers = dict(image.layer_sizes)
    return image.config_size + sum(size for digest, size in layers.items() if digest not in stored)


class PullTotals:
    """What registries said of images (``remember``), by reference as asked and by manifest
    digest, for the totals of later pulls (``total``); ``graphroot`` is container storage's
    directory (None: asked of ``ask_graphroot`` once, when first needed)."""

    def __init__(self, graphroot: Path | None, ask_graphroot: Callable[[], str | None]) -> None:
        self.graphroot, self._ask = graphroot, ask_graphroot
        self._known: dict[str, RemoteImage] = {}
        self._asked: set[str] = set()

    def remember(self, reference: str, found: RemoteImage | None) -> None:
        """Keep what the registry said of ``reference`` (None: it could not say)."""
        self._asked.add(reference)
        if found is not None:
            self._known[reference] = self._known[found.digest] = found

    def asked(self, reference: str) -> bool:
        """Whether the registry was asked about ``reference`` (or told of its digest)."""
        return reference in self._asked or reference.rpartition("@")[2] in self._known

    def total(self, reference: str) -> int | None:
        """The bytes a pull of ``reference`` downloads, when its manifest was read."""
        known = self._known
        found = known.get(reference) or known.get(reference.rpartition("@")[2])
        if found is None:
            return None
        if self.graphroot is None:
            asked = self._ask()
            self.graphroot = Path(asked) if asked else None
        return to_download(found, stored_layers(self.graphroot)) if self.graphroot else None


class PullMeter:
    """Logs ``pull.progress`` (image, bytes ``done`` of ``total``, ``percent``, ``rate`` in
    bytes/s, ``eta`` in seconds, ``seconds`` since the start) every ``interval`` seconds while
    the service whose pid is in ``pid_file`` pulls (``with``), and once more, ``final``, at the
    end of a pull that took longer than that (a quick pull is no news). ``total`` (None:
    unknown) is the bytes the pull downloads (``to_download``)."""

    def __init__(
        self,
        pid_file: Path,
        image: str,
        log: Any,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        proc: Path = Path("/proc"),
        total: int | None = None,
    ) -> None:
        self.image, self.log, self.total = image, log, total
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
            # the pull succeeded: all it had to download came, also what no sample caught
            done = max(done, self.total or 0)
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
        total = done if final else self.total
        percent = eta = None
        if total:
            done = min(done, total)  # a blob file's last bytes may be podman's, not the layer's
            percent = round(100 * done / total, 1)
            average = done / seconds if seconds > 0 else 0
            eta = 0.0 if final else round((total - done) / average, 1) if average else None
        self.log.info(
            "pull.progress",
            image=self.image,
            done=done,
            total=total,
            percent=percent,
            rate=round(rate) if rate else None,
            eta=eta,
            seconds=round(seconds, 1),
            final=final,
        )
