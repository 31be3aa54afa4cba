"""The workflow ``rd.iguana.containers=a,b`` stands for: one job per image, in file order."""

from __future__ import annotations

import re
from collections.abc import Sequence

from iguana_fsm.errors import WorkflowInvalid
from iguana_fsm.workflow import grammar
from iguana_fsm.workflow.model import Container, Job, Workflow
from iguana_fsm.workflow.problem import Problem
from iguana_fsm.workflow.reference import parse_reference, reference_problem

_CONTAINERS_SOURCE = "rd.iguana.containers"
_JOB_ID = re.compile(grammar.JOB_ID)


def _job_id(image: str, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "-", parse_reference(image).name)
    base = name if _JOB_ID.fullmatch(name) else f"job-{name}"
    job_id, number = base, 1
    while job_id in taken:
        number += 1
        job_id = f"{base}-{number}"
    taken.add(job_id)
    return job_id


def workflow_from_containers(images: Sequence[str]) -> Workflow:
    """The workflow ``rd.iguana.containers=a,b`` stands for: one job per image, in order.

    Job ids are the images' last path components, made unique with ``-2``, ``-3``...
    """
    problems = [
        Problem(_CONTAINERS_SOURCE, 0, 0, f"containers[{index}]", f"invalid image {image!r}: {why}")
        for index, image in enumerate(images)
        if (why := reference_problem(image)) is not None
    ]
    if not images:
        problems.append(Problem(_CONTAINERS_SOURCE, 0, 0, "", "no container images given"))
    if problems:
        raise WorkflowInvalid(list(problems))
    taken: set[str] = set()
    jobs = tuple(
        Job(id=_job_id(image, taken), container=Container(image=image)) for image in images
    )
    return Workflow(jobs=jobs, source=_CONTAINERS_SOURCE)
