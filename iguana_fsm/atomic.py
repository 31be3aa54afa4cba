"""One way to write a file so that a reader sees the old content or the new, never a part.

The data goes to a temp file made with ``mkstemp`` next to the target (``.NAME.XXXXXXXX``), is
fsynced and given its mode, then renamed over the target and the directory is fsynced. A rename
replaces whatever has the target's name, a symbolic link included, so a link planted there is
never written through.

A writer killed before its rename leaves its temp file behind; ``remove_stale_temps`` removes
such files at the next start. It can tell a dead writer's file from a live one's because each
writer holds an exclusive ``flock`` on its temp file until it has renamed it (a kill releases
the lock): the cleaner removes only a file whose lock it gets, and a writer that finds its temp
file removed before it could lock it starts again with a new one.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

_RANDOM = re.compile(r"[a-z0-9_]{8}")
"""What ``mkstemp`` puts after the prefix (its name sequence draws from these characters)."""


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically and durably with permissions ``mode``; the temp file
    is removed on any error and the OSError (naming ``path`` when it named no file) re-raised.
    The directory must exist."""
    directory = path.parent
    fd, temp = _locked_temp(path)
    try:
        try:
            view = memoryview(data)
            while view:  # a short write (a full file system) is followed by its error
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            os.fsync(fd)
            os.replace(temp, path)
        finally:
            os.close(fd)  # only now: the lock tells a cleaner that this file is in use
        fsync_directory(directory)
    except BaseException as error:
        # after os.replace the temp name is gone, so this only ever removes our own file
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(path)
        raise


def _locked_temp(path: Path) -> tuple[int, str]:
    """A new temp file beside ``path``, open and locked by us."""
    while True:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink > 0:
                return fd, temp
        except BaseException:
            os.close(fd)
            Path(temp).unlink(missing_ok=True)
            raise
        # a cleaner took it for a dead writer's file between mkstemp and our lock
        os.close(fd)


def remove_stale_temps(directory: Path, names: Iterable[str]) -> list[Path]:
    """Remove the temp files that killed writers of ``names`` left in ``directory``; the files
    removed. A temp file whose writer still runs is left alone (see the module's docstring)."""
    prefixes = tuple(f".{name}." for name in names)
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for entry in entries:
        prefix = next((p for p in prefixes if entry.name.startswith(p)), None)
        if prefix is None or not _RANDOM.fullmatch(entry.name[len(prefix) :]):
            continue
        if entry.is_file(follow_symlinks=False) and _remove_if_dead(Path(entry.path)):
            removed.append(Path(entry.path))
    return removed


def _remove_if_dead(temp: Path) -> bool:
    """Unlink ``temp`` when no writer holds its lock and the name is still that file."""
    try:
        fd = os.open(temp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its writer is alive
        try:
            now = os.lstat(temp)
        except FileNotFoundError:
            return False  # renamed into place meanwhile
        opened = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
            return False
        os.unlink(temp)
        return True
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make a rename or creation in ``directory`` durable."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
