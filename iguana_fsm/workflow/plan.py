"""What runs, in which order, with which environment: the workflow's semantics, no I/O.

Jobs run one at a time in file order, moved later only where ``needs`` requires it. Whether a
job runs follows its ``if:`` and the statuses of the jobs before it (docs/workflow.md).
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Iterable, Mapping, Sequence

from iguana_fsm.errors import WorkflowInvalid
from iguana_fsm.workflow.model import Condition, Container, Job, Workflow


class JobStatus(enum.StrEnum):
    """Where a job is (pending, running) or how it ended; the values are what the checkpoint
    records for each job (``iguana_fsm.record.JobRecord``)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    FAILED_CONTINUED = "failed-continued"
    """The job failed but has ``continue-on-error: true``: counted as a success by the others."""


ENDED = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SKIPPED, JobStatus.FAILED_CONTINUED}
)
"""Statuses of a job that has ended; pending and running jobs are still to run."""


REDACTED = "***"
"""What a redacted environment value is shown as."""

ALWAYS_PUBLIC = frozenset({"IGUANA"})
"""Names whose values are never secret: Iguana sets them itself."""


def find_cycles(needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Every cycle of a needs graph once, as ``[a, b, ..., a]``, first job in file order first.

    ``needs`` maps each job id, in file order, to the ids it needs; unknown ids are ignored.
    """
    order = {job: index for index, job in enumerate(needs)}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for root in needs:
        if root in state:
            continue
        path: list[str] = [root]
        stack: list[Iterable[str]] = [iter(needs[root])]
        state[root] = 1
        while stack:
            child = next(iter(stack[-1]), None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if child not in order:
                continue
            if state.get(child) == 1:
                loop = path[path.index(child) :]
                start = min(range(len(loop)), key=lambda i: order[loop[i]])
                loop = loop[start:] + loop[:start]
                if frozenset(loop) not in seen:
                    seen.add(frozenset(loop))
                    cycles.append([*loop, loop[0]])
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(needs[child]))
    return cycles


def run_order(workflow: Workflow) -> list[Job]:
    """The jobs in the order they run: file order, each moved after the jobs it needs."""
    index = {job.id: position for position, job in enumerate(workflow.jobs)}
    waiting = {job.id: {need for need in job.needs if need in index} for job in workflow.jobs}
    needed_by: dict[str, list[str]] = {job.id: [] for job in workflow.jobs}
    for job in workflow.jobs:
        for need in waiting[job.id]:
            needed_by[need].append(job.id)
    ready = [index[job_id] for job_id, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order: list[Job] = []
    while ready:
        job = workflow.jobs[heapq.heappop(ready)]
        order.append(job)
        for later in needed_by[job.id]:
            waiting[later].discard(job.id)
            if not waiting[later]:
                heapq.heappush(ready, index[later])
    if len(order) != len(workflow.jobs):
        cycle = find_cycles({job.id: job.needs for job in workflow.jobs})
        path = " -> ".join(cycle[0]) if cycle else "?"
        raise WorkflowInvalid([f"{workflow.source}: needs form a cycle: {path}"])
    return order


def should_run(job: Job, results: Mapping[str, str]) -> tuple[bool, str]:
    """Whether ``job`` runs given the statuses of the jobs run before it, and why.

    ``results`` maps every job that came earlier in run order to its ``JobStatus`` value. A need
    that is missing from it counts as skipped.
    """
    failed = [job_id for job_id, status in results.items() if status == JobStatus.FAILED]
    need_status = {need: results.get(need, JobStatus.SKIPPED) for need in job.needs}
    bad_needs = [
        need
        for need, status in need_status.items()
        if status in (JobStatus.FAILED, JobStatus.SKIPPED)
    ]
    if job.condition is Condition.ALWAYS:
        return True, "if: always()"
    if job.condition is Condition.FAILURE:
        if not failed:
            return False, "if: failure(), and no job has failed"
        if job.needs and not bad_needs:
            return False, "if: failure(), and every job it needs succeeded"
        return True, f"if: failure(), and {_names(failed)} failed"
    for need in bad_needs:
        return False, f"needs {need!r}, which {_verb(need_status[need])}"
    if failed:
        return False, f"{_names(failed)} failed earlier"
    return True, "every job before it succeeded" if not job.needs else "its needs succeeded"


def _verb(status: str) -> str:
    return "failed" if status == JobStatus.FAILED else "was skipped"


def _names(job_ids: Sequence[str]) -> str:
    return ", ".join(repr(job_id) for job_id in job_ids)


def merged_env(
    workflow: Workflow, container: Container, overrides: Mapping[str, str]
) -> dict[str, str]:
    """A container's environment: workflow < job < container < overrides < ``IGUANA=true``.

    The job's own ``env`` was folded into ``container.env`` when the workflow was loaded.
    """
    env = {**workflow.env, **container.env, **overrides}
    env["IGUANA"] = "true"
    return env


def redact(env: Mapping[str, str], public: Iterable[str]) -> dict[str, str]:
    """``env`` with every value replaced by ``***`` unless its name is public."""
    shown = ALWAYS_PUBLIC | frozenset(public)
    return {name: value if name in shown else REDACTED for name, value in env.items()}
