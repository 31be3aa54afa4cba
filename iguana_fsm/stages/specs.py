"""From workflow containers to engine ContainerSpecs, and the bookkeeping of images and volumes
that the services and jobs stages share."""

from __future__ import annotations

import re

from iguana_fsm.contract import container_spec
from iguana_fsm.engine.base import ContainerSpec
from iguana_fsm.record import BootRecord
from iguana_fsm.stages.base import BootContext
from iguana_fsm.workflow.model import Container, Job, Workflow
from iguana_fsm.workflow.plan import ENDED, merged_env, redact

_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def container_name(ctx: BootContext, *parts: str) -> str:
    """A container name unique to this run, made of characters podman accepts."""
    tail = "-".join(_NAME_UNSAFE.sub("-", part) for part in parts)
    return f"iguana-{ctx.record.run_id[:8]}-{tail}"


def pinned(ctx: BootContext, image: str) -> str:
    """The reference verify resolved ``image`` to (repo@sha256:...), else the image as written."""
    return ctx.record.images.get(image, image)


def spec_for(ctx: BootContext, container: Container, name: str) -> ContainerSpec:
    """The engine's view of one workflow container: merged env, pinned image, the contract."""
    workflow = ctx.need_workflow()
    return container_spec(
        name,
        pinned(ctx, container.image),
        merged_env(workflow, container, ctx.config.env),
        container.volumes,
        iguana_dir=ctx.paths.iguana,
        run_id=ctx.record.run_id,
    )


def public_env(ctx: BootContext, spec: ContainerSpec) -> dict[str, str]:
    """The spec's environment as it may be logged: values not in public-env are redacted."""
    return redact(spec.env, ctx.need_workflow().public_env)


def containers_of(job: Job) -> list[Container]:
    """The job's services' containers, then its own."""
    return [service.container for service in job.services] + [job.container]


def named_volumes(job: Job) -> list[str]:
    """Names of the named volumes the job and its services use, first use first."""
    names: dict[str, None] = {}
    for container in containers_of(job):
        for volume in container.volumes:
            if volume.is_named and volume.source is not None:
                names.setdefault(volume.source, None)
    return list(names)


def current_job(ctx: BootContext) -> Job:
    """The job the services and jobs states work on."""
    if ctx.record.current_job is None:
        raise RuntimeError("no current job in the record")
    return ctx.need_workflow().job(ctx.record.current_job)


def ensure_images(ctx: BootContext, job: Job) -> None:
    """Pull the pinned images of ``job`` that are not known to be present (after a resume, or
    when an earlier job's clean-up removed them); an image used in place is never pulled."""
    present = ctx.record.images_present
    for container in containers_of(job):
        reference = pinned(ctx, container.image)
        if reference not in present and not _in_place(ctx, container.image):
            ctx.engine.pull(reference)
            present.append(reference)


def _in_place(ctx: BootContext, image: str) -> bool:
    """Whether ``image`` (as written) is used from the image device's store (stages/inplace)."""
    size = ctx.record.memory.images.get(image)
    return size is not None and size.in_place


def reset(record: BootRecord) -> None:
    """For a resume: images may be gone (removed after use, or a new storage): pull again
    what is needed."""
    record.images_present.clear()


def mark_present(ctx: BootContext, reference: str) -> None:
    """Note that ``reference`` is in the engine's storage (verify pulled it)."""
    present = ctx.record.images_present
    if reference not in present:
        present.append(reference)


_users: tuple[Workflow, dict[str, str], int, dict[str, list[str]]] | None = None
"""The last ``image_users`` answer and what it depends on: the workflow and the pins."""


def image_users(ctx: BootContext) -> dict[str, list[str]]:
    """Pinned reference -> the jobs whose containers use it, in run order; worked out again
    only when the workflow or the pins change (the job loop asks at every job)."""
    global _users
    workflow, pins = ctx.need_workflow(), ctx.record.images
    if _users is not None and _users[:3] == (workflow, pins, len(pins)):
        return _users[3]
    users: dict[str, list[str]] = {}
    for other in ctx.run_order():
        for container in containers_of(other):
            names = users.setdefault(pinned(ctx, container.image), [])
            if other.id not in names:
                names.append(other.id)
    _users = (workflow, pins, len(pins), users)
    return users


def _still_to_run(ctx: BootContext, job_id: str) -> bool:
    status = ctx.record.jobs.get(job_id)
    return status is None or status.status not in ENDED


def release_images(ctx: BootContext, job: Job) -> list[str]:
    """Remove the images ``job`` used that no job still to run needs (RAM matters in an
    initrd); kept in debug mode. Returns the references removed."""
    if ctx.config.debug:
        return []
    users = image_users(ctx)
    present = ctx.record.images_present
    removed: list[str] = []
    step = ctx.record.memory.jobs.get(job.id)
    # the pull plan may send an image away that a later job pulls again (memory/plan.py)
    planned = {pinned(ctx, image) for image in step.remove} if step is not None else set()
    for container in containers_of(job):
        reference = pinned(ctx, container.image)
        if _in_place(ctx, container.image):
            continue  # on the read-only device: removing it would free nothing (and fail)
        if reference in removed or (
            reference not in planned
            and any(
                _still_to_run(ctx, other) for other in users.get(reference, ()) if other != job.id
            )
        ):
            continue
        ctx.engine.remove_image(reference)
        if reference in present:
            present.remove(reference)
        removed.append(reference)
        ctx.log.info("image.removed", image=reference, job=job.id)
    return removed
