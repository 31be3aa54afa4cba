"""``iguana validate`` and ``iguana schema``; ``cli.py`` parses the flags and calls these."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from iguana_fsm.workflow.explain import explain as explain_plan
from iguana_fsm.workflow.model import Workflow
from iguana_fsm.workflow.parse import parse
from iguana_fsm.workflow.problem import Problem
from iguana_fsm.workflow.schema import render_schema
from iguana_fsm.workflow.validate import check_file

FORMATS = ("text", "json")
"""The values ``--format`` accepts."""


def _check(name: str) -> tuple[Workflow | None, list[Problem]]:
    if name == "-":
        return parse(sys.stdin.buffer.read(), "<stdin>")
    return check_file(name)


def cmd_validate(files: list[str], fmt: str, explain: bool, out: TextIO) -> int:
    """Check every file (``-`` is stdin); print each problem or, with ``explain``, each plan.

    Returns 0 when every file is valid, 2 otherwise (the exit code of WorkflowInvalid).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    problems: list[Problem] = []
    plans: list[str] = []
    for name in files:
        workflow, found = _check(name)
        problems.extend(found)
        if workflow is not None and explain:
            plans.append(explain_plan(workflow, {}))
    if fmt == "json":
        out.write(json.dumps([problem.as_dict() for problem in problems], indent=2) + "\n")
    else:
        out.writelines(f"{problem}\n" for problem in problems)
        out.write("\n".join(plans))
    return 2 if problems else 0


def cmd_schema(out: TextIO) -> int:
    """Print the JSON Schema of workflow files."""
    out.write(render_schema())
    return 0
