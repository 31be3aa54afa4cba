"""The pull plan ahead of a boot, for ``iguana run --dry-run`` and ``iguana verify``: the
registries' sizes of a workflow's images and the budget of the machine it runs on now (with the
command line's ``rd.iguana.memory_reserve`` / ``memory_limit``), as the verify stage weighs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from iguana_fsm.cmdline import BootConfig
from iguana_fsm.memory.budget import read_budget
from iguana_fsm.memory.plan import ImageSize, PullPlan, describe, make_plan
from iguana_fsm.workflow.model import Workflow
from iguana_fsm.workflow.plan import run_order


@dataclass
class Preview:
    """The plan and its report lines."""

    plan: PullPlan
    lines: list[str]


def job_images(workflow: Workflow) -> list[tuple[str, list[str]]]:
    """Each job in run order with its images (services first), as written."""
    return [
        (job.id, [service.container.image for service in job.services] + [job.container.image])
        for job in run_order(workflow)
    ]


def preview(
    workflow: Workflow, config: BootConfig, storage: Path | None, env: Mapping[str, str]
) -> Preview:
    """Ask each image's registry for its sizes (``env``: what podman would get), read the
    budget here, make the plan."""
    from iguana_fsm.engine.remote import RemoteUnknown, inspect_remote

    sizes: dict[str, ImageSize] = {}
    unknown: list[str] = []
    for reference in workflow.images():
        try:
            found = inspect_remote(reference, env)
        except RemoteUnknown as error:
            unknown.append(f"  image {reference}: size unknown ({error}); a pull measures it")
            continue
        sizes[reference] = ImageSize(found.download, found.unpacked, digest=found.digest)
    budget = read_budget(config.memory_reserve, config.memory_limit, storage)
    plan = make_plan(job_images(workflow), sizes, budget.bytes)
    lines = describe(plan, budget, sizes)
    return Preview(plan, lines[:1] + unknown + lines[1:])
