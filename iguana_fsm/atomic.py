"""One way to write a file so that a reader sees the old content or the new, never a part.

The data goes to a temp file made with ``mkstemp`` next to the target, is fsynced and given its
mode, then renamed over the target and the directory is fsynced. A rename replaces whatever has
the target's name, a symbolic link included, so a link planted there is never written through.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically and durably with permissions ``mode``; the temp file
    is removed on any error and the OSError re-raised. The directory must exist."""
    directory = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, path)
        fsync_directory(directory)
    except BaseException:
        # after os.replace the temp name is gone, so this only ever removes our own file
        Path(temp).unlink(missing_ok=True)
        raise


def fsync_directory(directory: Path) -> None:
    """Make a rename or creation in ``directory`` durable."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
