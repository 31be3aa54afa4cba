"""Reading the files installation containers leave in ``/iguana`` (the contract, see
``contract``): ``mountlist``, ``kernelAction`` and ``machine-id``.

A container may leave anything at those names: a FIFO (a read would block the boot), a device
that never ends, a symbolic link to a host file such as ``/etc/shadow`` (whose lines would reach
the log), a hard link to one, or a file of millions of lines. So each file is read the same way:
opened without following a final symbolic link and without blocking, accepted only when it is a
regular file with one link and within its bounds (bytes and lines, checked before anything is
parsed), and refused otherwise with one line that names the file and says what it is, never
what it holds. A symbolic link is followed only to a file in the same directory.

The bounds are part of the contract (README, "The contract with installation containers").
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from iguana_fsm.errors import MountError


@dataclass(frozen=True)
class Bound:
    """How large a contract file may be: at most ``max_bytes`` bytes in ``max_lines`` lines."""

    max_bytes: int
    max_lines: int


MOUNTLIST = Bound(64 * 1024, 1024)
"""``/iguana/mountlist``: far more than any layout needs (one line a mount)."""

KERNEL_ACTION = Bound(256, 4)
"""``/iguana/kernelAction``: one word."""

MACHINE_ID = Bound(64, 1)
"""``/iguana/machine-id`` (and ``/etc/machine-id``): 32 hex digits and a newline."""

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class Refused(MountError):
    """A contract file is not a bounded regular file of its directory (exit 7, as the mount it
    was left for cannot happen)."""


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words (for a one-line refusal)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _open(path: Path) -> int | None:
    """A descriptor of ``path`` (a symbolic link followed only within its directory); None when
    nothing is there."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY | os.O_NOFOLLOW
    try:
        return os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise Refused(f"{path}: cannot read: {error.strerror}") from None
    # ELOOP with O_NOFOLLOW: the name is a symbolic link
    target = Path(os.path.realpath(path))
    if target.parent != Path(os.path.realpath(path.parent)):
        raise Refused(f"{path}: a symbolic link that leads out of {path.parent}, not read")
    try:
        return os.open(target, flags)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise Refused(f"{path}: cannot read: {error.strerror}") from None


def read_bytes(path: Path, bound: Bound) -> bytes | None:
    """The bytes of the contract file ``path``, None when it does not exist; Refused (one line
    naming the file, quoting nothing of it) when it is not a regular file of its directory with
    one link, or larger than ``bound``."""
    fd = _open(path)
    if fd is None:
        return None
    try:
        _check(path, os.fstat(fd), bound)
        data = _read_at_most(fd, bound.max_bytes + 1)
    except OSError as error:
        raise Refused(f"{path}: cannot read: {error.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > bound.max_bytes:
        raise Refused(f"{path}: more than the {bound.max_bytes} bytes allowed")
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    if lines > bound.max_lines:
        raise Refused(f"{path}: {lines} lines, more than the {bound.max_lines} allowed")
    return data


def _check(path: Path, info: os.stat_result, bound: Bound) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise Refused(f"{path}: is {file_kind(info.st_mode)}, not a regular file; not read")
    if info.st_nlink > 1:
        raise Refused(f"{path}: has {info.st_nlink} hard links (a file elsewhere); not read")
    if info.st_size > bound.max_bytes:
        raise Refused(f"{path}: {info.st_size} bytes, more than the {bound.max_bytes} allowed")


def _read_at_most(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0 and (chunk := os.read(fd, size)):
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_text(path: Path, bound: Bound) -> str | None:
    """``read_bytes`` as UTF-8 text; Refused when it is not UTF-8."""
    data = read_bytes(path, bound)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Refused(f"{path}: not UTF-8 text (byte {error.start + 1})") from None
