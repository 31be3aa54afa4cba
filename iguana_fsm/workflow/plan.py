"""What runs, in which order, with which environment: the workflow's semantics, no I/O.

Jobs run one at a time in file order, moved later only where ``needs`` requires it. Whether a
job runs follows its ``if:`` and the statuses of the jobs before it (docs/workflow.md).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence

from iguana_fsm.errors import WorkflowInvalid
from iguana_fsm.workflow.jobstatus import ENDED as ENDED
from iguana_fsm.workflow.jobstatus import JobStatus as JobStatus
from iguana_fsm.workflow.model import Condition, Container, Job, Workflow

REDACTED = "***"
"""What a redacted environment value is shown as."""

ALWAYS_PUBLIC = frozenset({"IGUANA"})
"""Names whose values are never secret: Iguana sets them itself."""


def _components(needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The strongly connected components of the needs graph (Tarjan's, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in needs:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(needs[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            job, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in needs:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(needs[child])))
                elif child in on_stack:
                    low[job] = min(low[job], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[job])
            if low[job] == index[job]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == job:
                        break
                components.append(component)
    return components


def _shortest_loop(start: str, members: set[str], needs: Mapping[str, Sequence[str]]) -> list[str]:
    """The shortest path of needs from ``start`` back to itself inside ``members``."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        job = queue.popleft()
        for child in needs[job]:
            if child == start:
                path = [job]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start] if job != start else [start, start]
            if child in members and child not in came_from:
                came_from[child] = job
                queue.append(child)
    raise AssertionError("a strongly connected component without a loop")


def find_cycles(needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle for each knot of jobs that need each other, as ``[a, b, ..., a]``.

    ``needs`` maps each job id, in file order, to the ids it needs; unknown ids are ignored.
    Each cycle starts at the knot's job written first and is the shortest way back to it; the
    cycles come in file order. Linear in the size of the graph.
    """
    order = {job: position for position, job in enumerate(needs)}
    cycles = []
    for component in _components(needs):
        start = min(component, key=order.__getitem__)
        if len(component) > 1 or start in needs[start]:
            cycles.append(_shortest_loop(start, set(component), needs))
    return sorted(cycles, key=lambda cycle: order[cycle[0]])


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
