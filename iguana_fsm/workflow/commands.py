"""``iguana validate`` and ``iguana schema``; ``cli.py`` parses the flags and calls these."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from iguana_fsm.workflow.explain import explain as explain_plan
from iguana_fsm.workflow.explain import plan_data
from iguana_fsm.workflow.model import Workflow
from iguana_fsm.workflow.problem import Problem
from iguana_fsm.workflow.schema import render_schema
from iguana_fsm.workflow.source import MAX_BYTES, check_file
from iguana_fsm.workflow.validator import parse

FORMATS = ("text", "json")
"""The values ``--format`` accepts."""


def _check(name: str) -> tuple[Workflow | None, list[Problem]]:
    if name == "-":
        data = sys.stdin.buffer.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            return None, [Problem("<stdin>", 0, 0, "", f"larger than {MAX_BYTES} bytes")]
        return parse(data, "<stdin>")
    return check_file(name)


def cmd_validate(files: list[str], fmt: str, explain: bool, out: TextIO) -> int:
    """Check every file (``-`` is stdin); print each problem or, with ``explain``, each plan.

    Returns 0 when every file is valid, 2 otherwise (the exit code of WorkflowInvalid). JSON is
    the list of problems, or with ``explain`` ``{"problems": [...], "plans": [...]}``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    problems: list[Problem] = []
    plans: list[str] = []
    data: list[dict[str, object]] = []
    for name in files:
        workflow, found = _check(name)
        problems.extend(found)
        if workflow is not None and explain:
            plans.append(explain_plan(workflow, {}))
            data.append(plan_data(workflow, {}))
    if fmt == "json":
        listed = [problem.as_dict() for problem in problems]
        document: object = {"problems": listed, "plans": data} if explain else listed
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        out.writelines(f"{problem}\n" for problem in problems)
        out.write("\n".join(plans))
    return 2 if problems else 0


def cmd_schema(out: TextIO) -> int:
    """Print the JSON Schema of workflow files."""
    out.write(render_schema())
    return 0
