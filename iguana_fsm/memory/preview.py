"""The pull plan ahead of a boot, for ``iguana run --dry-run`` and ``iguana verify``: the
registries' sizes of a workflow's images and the budget of the machine it runs on now (with the
command line's ``rd.iguana.memory_reserve`` / ``memory_limit``), as the verify stage weighs them.
A pinned image that podman's read-only stores (the image device's) hold under its pin is shown
as used in place, as verify will use it (``stages/inplace.py``).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iguana_fsm.cmdline import BootConfig
from iguana_fsm.memory.budget import read_budget
from iguana_fsm.memory.plan import ImageSize, PullPlan, describe, make_plan
from iguana_fsm.workflow.model import Workflow
from iguana_fsm.workflow.plan import run_order


@dataclass
class Preview:
    """The plan, its report lines, and the pins the image device contradicts (one line
    each, as the boot's verify refuses them)."""

    plan: PullPlan
    lines: list[str]
    refusals: list[str] = field(default_factory=list)


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
    refusals: list[str] = []
    stored = read_only_images(storage, env)
    for reference in workflow.images():
        found_in_place = in_place(reference, stored)
        if isinstance(found_in_place, str):
            unknown.append(f"  REFUSED: {found_in_place}")
            refusals.append(found_in_place)
            continue
        if found_in_place is not None:
            sizes[reference] = found_in_place
            continue
        try:
            found = inspect_remote(reference, env)
        except RemoteUnknown as error:
            unknown.append(f"  image {reference}: size unknown ({error}); a pull measures it")
            continue
        sizes[reference] = ImageSize(found.download, found.unpacked, digest=found.digest)
    budget = read_budget(config.memory_reserve, config.memory_limit, storage)
    plan = make_plan(job_images(workflow), sizes, budget.bytes)
    lines = describe(plan, budget, sizes)
    return Preview(plan, lines[:1] + unknown + lines[1:], refusals)


def read_only_images(storage: Path | None, env: Mapping[str, str]) -> list[dict[str, Any]]:
    """What ``podman images`` lists from its read-only stores (as verify's podman would see
    them: the same storage.conf); nothing when storage.conf names no such store (podman is
    not asked then), when podman is missing or fails."""
    from iguana_fsm.engine.api import image_store_options

    stores = image_store_options(env)
    if not stores:
        return []
    argv = ["podman"]
    if storage is not None:
        argv += ["--root", str(storage), *stores]
    argv += ["images", "--filter", "readonly=true", "--format", "json"]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=dict(env), timeout=60, check=False
        )
        listed = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    return [item for item in listed if isinstance(item, dict) and item.get("ReadOnly") is True]


def in_place(reference: str, stored: list[dict[str, Any]]) -> ImageSize | str | None:
    """``reference``'s size when it would be used in place, the refusal (a line) when the
    stores hold its repository only under other digests, None when it would be pulled."""
    from iguana_fsm.engine.images import is_digest_reference, manifest_digest, same_repository

    if not is_digest_reference(reference):
        return None
    pin = reference.split("@", 1)[1]
    ours = [
        item
        for item in stored
        if any(same_repository(str(name), reference) for name in item.get("RepoDigests") or [])
    ]
    if not ours:
        return None
    for item in ours:
        if manifest_digest(reference, item) == pin:
            size = item.get("Size")
            size = size if isinstance(size, int) else 0
            return ImageSize(size, size, True, pin, True)
    held = ", ".join(sorted({str(manifest_digest(reference, item)) for item in ours}))
    return f"image {reference}: the image device's store holds {held}, not the pinned {pin}"
