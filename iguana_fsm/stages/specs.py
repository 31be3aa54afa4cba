"""From workflow containers to engine ContainerSpecs, and the bookkeeping of images and volumes
that the services and jobs stages share."""

from __future__ import annotations

import re

from iguana_fsm.contract import container_spec
from iguana_fsm.engine.base import ContainerSpec
from iguana_fsm.stages.base import BootContext
from iguana_fsm.workflow.model import Container, Job
from iguana_fsm.workflow.plan import merged_env, redact, run_order

_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")
PRESENT = "images_present"


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
    when an earlier job's clean-up removed them)."""
    present: list[str] = ctx.record.details.setdefault(PRESENT, [])
    for container in containers_of(job):
        reference = pinned(ctx, container.image)
        if reference not in present:
            ctx.engine.pull(reference)
            present.append(reference)


def mark_present(ctx: BootContext, reference: str) -> None:
    """Note that ``reference`` is in the engine's storage (verify pulled it)."""
    present: list[str] = ctx.record.details.setdefault(PRESENT, [])
    if reference not in present:
        present.append(reference)


def release_images(ctx: BootContext, job: Job) -> list[str]:
    """Remove the images ``job`` used that no job still to run needs (RAM matters in an
    initrd); kept in debug mode. Returns the references removed."""
    if ctx.config.debug:
        return []
    later: set[str] = set()
    for other in run_order(ctx.need_workflow()):
        status = ctx.record.jobs.get(other.id)
        if other.id != job.id and (status is None or status.status in ("pending", "running")):
            later.update(pinned(ctx, c.image) for c in containers_of(other))
    present: list[str] = ctx.record.details.setdefault(PRESENT, [])
    removed: list[str] = []
    for container in containers_of(job):
        reference = pinned(ctx, container.image)
        if reference in later or reference in removed:
            continue
        ctx.engine.remove_image(reference)
        if reference in present:
            present.remove(reference)
        removed.append(reference)
        ctx.log.info("image.removed", image=reference, job=job.id)
    return removed
