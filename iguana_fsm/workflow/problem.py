"""One thing wrong with a workflow, placed at its file, line, column and key path."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """``FILE:LINE:COL: key.path: message``; line and column count from 1, 0 means unknown.

    ``key_path`` is dotted with list indexes in brackets (``jobs.a.container.volumes[1]``) and
    empty for problems of the file as a whole (unreadable, not YAML).
    """

    file: str
    line: int
    col: int
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return (
            f"{where}: {self.key_path}: {self.message}"
            if self.key_path
            else (f"{where}: {self.message}")
        )

    def as_dict(self) -> dict[str, object]:
        """The problem as a JSON object (``iguana validate --format json``)."""
        return asdict(self)
