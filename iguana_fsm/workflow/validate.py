"""Validation: every problem of a workflow at once, each placed at ``FILE:LINE:COL: key.path``."""

from __future__ import annotations

from pathlib import Path

from iguana_fsm.workflow.model import Workflow
from iguana_fsm.workflow.parse import parse
from iguana_fsm.workflow.problem import Problem

__all__ = ["Problem", "check_file", "validate"]


def validate(text: str | bytes, source: str) -> list[Problem]:
    """Every problem of the workflow in ``text``, in file order; empty when it is valid."""
    return parse(text, source)[1]


def check_file(path: str | Path) -> tuple[Workflow | None, list[Problem]]:
    """Read and check a workflow file; an unreadable file is a problem, not an exception."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        return None, [Problem(str(path), 0, 0, "", f"cannot read the file: {reason}")]
    return parse(data, str(path))
