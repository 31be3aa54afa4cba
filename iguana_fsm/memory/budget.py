"""The memory a boot's images may take: ``MemAvailable`` less the reserve, capped by
``rd.iguana.memory_limit=`` and by what the tmpfs of container storage still holds.

Read once in verify, before any pull; every figure is kept in the checkpoint so that a reader
sees why a plan was chosen.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from iguana_fsm.errors import UsageError
from iguana_fsm.recordclass import recordclass

DEFAULT_RESERVE = 128 * 1024 * 1024
"""Bytes kept back for what images do not account for: the processes of the jobs and
services, their writable layers, the files they leave in ``/iguana``, podman and Iguana."""

DEFAULT_STORAGE = Path("/var/lib/containers/storage")
DEFAULT_TMP = Path("/var/tmp")
"""Where podman keeps images, and where a pull keeps the downloaded layers until they are
unpacked (containers-storage's big-files directory)."""

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """Bytes from ``NUMBER[K|M|G|T]`` (binary units, as tmpfs takes them); ValueError else."""
    match = re.fullmatch(r"(\d+)([kKmMgGtT]?)(?:i?[bB])?", text.strip())
    if match is None:
        raise ValueError(text)
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def cmdline_size(name: str, value: str | None) -> int:
    """The value of a ``rd.iguana.`` size option; UsageError naming it when it is not one."""
    try:
        return parse_size(value or "")
    except ValueError:
        raise UsageError(
            f"kernel command line: rd.iguana.{name}={value}: expected a size "
            "(bytes, or NUMBER with K, M or G)"
        ) from None


def mem_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The kernel's estimate of memory available without swapping (``MemAvailable``), bytes."""
    try:
        for line in meminfo.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still put on the file system of ``path`` (or of its
    nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        found = os.statvfs(path)
    except OSError:
        return None
    return found.f_bavail * found.f_frsize


def used_bytes(path: Path) -> int | None:
    """Bytes in use on the file system of ``path`` when it is a file system of its own (the
    initrd's tmpfs on /var/lib/containers); None inside a larger one (a sandbox on a disk),
    whose figure would count everything else on it."""
    if not (os.path.ismount(path) or os.path.ismount(path.parent)):
        return None
    try:
        found = os.statvfs(path)
    except OSError:
        return None
    return (found.f_blocks - found.f_bfree) * found.f_frsize


@recordclass
class Budget:
    """What the images of a boot may take, and the figures it comes from (bytes)."""

    mem_available: int | None
    reserve: int
    limit: int | None = None
    storage_free: int | None = None
    tmp_free: int | None = None

    @property
    def bytes(self) -> int | None:
        """The smallest of: MemAvailable less the reserve, the limit, the storage's free space;
        None when none of them is known."""
        known = [value for value in (self.limit, self.storage_free) if value is not None]
        if self.mem_available is not None:
            known.append(max(0, self.mem_available - self.reserve))
        return min(known) if known else None

    def describe(self) -> str:
        """One line for the dry run, verify and the log."""
        parts = [f"budget {human(self.bytes)}"]
        if self.mem_available is not None:
            parts.append(
                f"MemAvailable {human(self.mem_available)} - reserve {human(self.reserve)}"
            )
        if self.limit is not None:
            parts.append(f"limit {human(self.limit)}")
        if self.storage_free is not None:
            parts.append(f"storage free {human(self.storage_free)}")
        return parts[0] + (" (" + ", ".join(parts[1:]) + ")" if len(parts) > 1 else "")


def read_budget(
    reserve: int | None,
    limit: int | None,
    storage: Path | None,
    meminfo: Path = Path("/proc/meminfo"),
) -> Budget:
    """The budget on this machine now; ``storage`` None is podman's default store."""
    return Budget(
        mem_available=mem_available(meminfo),
        reserve=DEFAULT_RESERVE if reserve is None else reserve,
        limit=limit,
        storage_free=free_bytes(storage or DEFAULT_STORAGE),
        tmp_free=free_bytes(DEFAULT_TMP),
    )


def human(size: int | None) -> str:
    """``size`` bytes in MiB (one decimal), or ``unknown``."""
    if size is None:
        return "unknown"
    return f"{size / 1024**2:.1f} MiB"
