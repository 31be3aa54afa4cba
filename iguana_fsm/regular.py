"""Reading a file of /iguana that a container could have replaced: only a regular file, and only
up to a bound. A module of its own so that ``iguana status`` reads the checkpoint without
loading the record model."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_BYTES = 64 * 1024 * 1024
"""A checkpoint or journal larger than this is not one (a thousand-job record is far smaller)."""


def read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most MAX_BYTES: /iguana is shared
    with the containers, and a FIFO or device put at the checkpoint's name must not hang or
    flood ``iguana status``. OSError (EINVAL for anything else) otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if found.st_size > MAX_BYTES:
            raise OSError(errno.EFBIG, f"larger than {MAX_BYTES} bytes", str(path))
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_BYTES + 1)
    finally:
        os.close(fd)
