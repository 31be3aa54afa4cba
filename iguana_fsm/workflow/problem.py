"""One thing wrong with a workflow, placed at its file, line, column and key path."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_PLAIN = re.compile(r"[A-Za-z0-9_.:/@+-]+")


def show(value: str) -> str:
    """``value`` as a problem names it: bare when it is a plain word, else quoted with every
    control, format or separator character escaped (``'a\\nb'``), so a problem stays one line
    and no escape sequence reaches a terminal."""
    return value if _PLAIN.fullmatch(value) else repr(value)


def _one_line(text: str) -> str:
    """``text`` with each character that is not printable (``str.isprintable``) escaped."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


@dataclass(frozen=True, order=True)
class Problem:
    """``FILE:LINE:COL: key.path: message``; line and column count from 1, 0 means unknown.

    ``key_path`` is dotted with list indexes in brackets (``jobs.a.container.volumes[1]``) and
    empty for problems of the file as a whole (unreadable, not YAML). Printed, a problem is
    always one line: whatever a file name, key or message holds, its unprintable characters
    are escaped.
    """

    file: str
    line: int
    col: int
    key_path: str
    message: str

    def __str__(self) -> str:
        file, path, message = map(_one_line, (self.file, self.key_path, self.message))
        where = f"{file}:{self.line}:{self.col}" if self.line else file
        return f"{where}: {path}: {message}" if path else f"{where}: {message}"

    def as_dict(self) -> dict[str, object]:
        """The problem as a JSON object (``iguana validate --format json``)."""
        return asdict(self)
