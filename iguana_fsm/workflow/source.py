"""Reading a workflow file the way the boot reads it: bounded, and only from a regular file.

The boot's fetch and ``iguana validate`` share ``read_bounded``: at most ``MAX_BYTES`` are
read, and a path that is not a regular file (a FIFO, which would block, a device such as
``/dev/zero``, which never ends, a directory, a socket) is refused after ``fstat``, before any
byte is read. The file is opened with ``O_NONBLOCK`` so that opening a FIFO returns at once.
"""

from __future__ import annotations

import os
import stat
import urllib.parse
from pathlib import Path

from iguana_fsm.contract_files import file_kind
from iguana_fsm.workflow.model import Workflow
from iguana_fsm.workflow.problem import Problem
from iguana_fsm.workflow.validator import parse

MAX_BYTES = 16 * 1024 * 1024
"""A workflow is a few kilobytes; anything this large is not one."""


class UnreadableFile(Exception):
    """A file cannot be read as a workflow; the message says why (without the path)."""


def read_bounded(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of the regular file ``path``; UnreadableFile when it is missing, not a regular
    file or larger than ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise UnreadableFile("no such file") from None
    except OSError as error:
        raise UnreadableFile(f"cannot read: {error.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnreadableFile(f"is {file_kind(mode)}, not a workflow file")
    with os.fdopen(fd, "rb", buffering=0) as handle:
        chunks: list[bytes] = []
        left = max_bytes + 1
        try:
            while left > 0 and (chunk := handle.read(min(left, 1 << 20))):
                chunks.append(chunk)
                left -= len(chunk)
        except OSError as error:
            raise UnreadableFile(f"cannot read: {error.strerror}") from None
    if left <= 0:
        raise UnreadableFile(f"larger than {max_bytes} bytes, not a workflow")
    return b"".join(chunks)


def _read(name: str) -> bytes:
    """The bytes of a path, a ``file://`` URL or an http(s) URL (read as the boot reads it)."""
    scheme = urllib.parse.urlsplit(name).scheme
    if scheme in ("http", "https", "file"):
        # imported here: requests is only needed for URLs, and validate must start fast
        from iguana_fsm.log import make_logger
        from iguana_fsm.trust import fetcher

        settings = fetcher.FetchSettings(allow_http=True, deadline=fetcher.DEFAULT_ATTEMPT_TIMEOUT)
        return fetcher.fetch(name, settings, make_logger(None, console=None)).data
    return read_bounded(Path(name))


def check_file(path: str | Path) -> tuple[Workflow | None, list[Problem]]:
    """Read and check a workflow; a file that cannot be read is one problem naming it."""
    from iguana_fsm.errors import IguanaError

    name = str(path)
    try:
        data = _read(name)
    except UnreadableFile as error:
        return None, [Problem(name, 0, 0, "", str(error))]
    except IguanaError as error:
        # a URL that could not be fetched: the fetcher's message already names it
        message = str(error).removeprefix(f"{name}: ")
        return None, [Problem(name, 0, 0, "", message)]
    return parse(data, name)
