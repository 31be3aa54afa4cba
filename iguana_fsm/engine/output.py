"""A job's output as lines: what the log and the failure banner see of it."""

from __future__ import annotations

import re
from collections import deque

from iguana_fsm.engine.base import TAIL_LINES, OutputSink

_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


class OutputLines:
    """Splits a byte stream into lines for ``sink`` and keeps the last ``TAIL_LINES``.

    Terminal escapes are dropped and a carriage return keeps only what was drawn last, so a
    progress bar becomes one readable line in the log.
    """

    def __init__(self, sink: OutputSink) -> None:
        self._sink = sink
        self._pending = b""
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    def feed(self, data: bytes) -> None:
        """Take more output; every complete line goes to the sink."""
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            self._emit(line)

    def close(self) -> None:
        """Hand over a last line that had no newline."""
        if self._pending:
            self._emit(self._pending)
            self._pending = b""

    def _emit(self, raw: bytes) -> None:
        text = _ANSI.sub(b"", raw).rstrip(b"\r").rsplit(b"\r", 1)[-1]
        line = text.decode("utf-8", errors="replace")
        self.tail.append(line)
        self._sink(line)


def one_line(text: object) -> str:
    """``text`` with every run of white space (newlines too) made one blank."""
    return " ".join(str(text).split())
