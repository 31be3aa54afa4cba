"""services: start the current job's named volumes and side services, and wait until they run."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import PurePosixPath

from iguana_fsm import identity
from iguana_fsm.contract import IGUANA_MOUNT, run_labels
from iguana_fsm.errors import EngineError, IguanaError
from iguana_fsm.record import BootRecord
from iguana_fsm.stages import specs
from iguana_fsm.stages.base import BootContext
from iguana_fsm.workflow.model import READY_TIMEOUT_SECONDS, Readiness

READY_TIMEOUT = READY_TIMEOUT_SECONDS
"""Seconds a service has to be ready unless its ``ready: timeout-seconds`` says otherwise."""


def run(ctx: BootContext) -> str:
    """Create volumes, start every service by id, record the ids for the jobs stage."""
    job = specs.current_job(ctx)
    if identity.read(ctx.paths.machine_id) is None:
        # every container, the first included, sees the machine's id in /iguana/machine-id
        identity.prepare(ctx.paths, ctx.log)
    specs.ensure_images(ctx, job)
    for volume in specs.named_volumes(job):
        ctx.engine.create_volume(volume, run_labels(ctx.record.run_id))
        ctx.log.info("volume.created", volume=volume, job=job.id)
    started = ctx.record.services
    started.clear()
    try:
        _start_services(ctx, started)
    except BaseException:
        # nothing half-done: what started for this job goes again, volumes included; a
        # clean-up error must not hide the error that caused it
        with contextlib.suppress(IguanaError):
            stop_all(ctx)
        raise
    return "services_up"


def _start_services(ctx: BootContext, started: dict[str, str]) -> None:
    job = specs.current_job(ctx)
    for service in job.services:
        spec = specs.spec_for(ctx, service.container, specs.container_name(ctx, job.id, service.id))
        ctx.progress(f"Starting service {service.id} of job {job.id}")
        ready = _on_host(ctx, service.ready)
        container_id = ctx.engine.start_service(spec, ready.timeout, ready)
        started[service.id] = container_id
        ctx.save()
        ctx.log.info(
            "service.started",
            job=job.id,
            service=service.id,
            container=container_id[:12],
            image=spec.image,
            env=specs.public_env(ctx, spec),
        )


def _on_host(ctx: BootContext, ready: Readiness) -> Readiness:
    """``ready`` with its file (a path under /iguana in the container) as the host sees it."""
    if ready.file is None:
        return ready
    inside = PurePosixPath(ready.file).relative_to(IGUANA_MOUNT)
    return replace(ready, file=str(ctx.paths.iguana / inside))


def reset(record: BootRecord) -> None:
    """For a resume: the services started before are gone (leftovers are removed)."""
    record.services.clear()


def stop_all(ctx: BootContext) -> None:
    """Stop and remove the current job's services by container id, then its named volumes.
    Every one is tried; the first error is raised after the others were tried."""
    job = specs.current_job(ctx)
    started = ctx.record.services
    errors: list[IguanaError] = []
    graces = {service.id: service.stop_grace for service in job.services}
    for service_id, container_id in reversed(list(started.items())):
        try:
            ctx.engine.stop_container(container_id, graces.get(service_id))
        except IguanaError as error:
            errors.append(error)
            continue
        ctx.log.info("service.stopped", job=job.id, service=service_id, container=container_id[:12])
    started.clear()
    for volume in specs.named_volumes(job):
        try:
            ctx.engine.remove_volume(volume)
        except IguanaError as error:
            errors.append(error)
            continue
        ctx.log.info("volume.removed", volume=volume, job=job.id)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise EngineError(f"{errors[0]}{more}")
