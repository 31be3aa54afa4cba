"""jobs: run the current job's container to its end, record how it went, clean up after it;
``stages.order`` picks what runs next."""

from __future__ import annotations

import contextlib
import time

from iguana_fsm.engine.base import TAIL_LINES, ContainerSpec, JobResult
from iguana_fsm.errors import EngineError, IguanaError
from iguana_fsm.progress import JobProgress, Plymouth
from iguana_fsm.record import BootRecord, JobRecord
from iguana_fsm.stages import pulls, services, specs
from iguana_fsm.stages.base import BootContext
from iguana_fsm.stages.order import next_job
from iguana_fsm.workflow.model import Job
from iguana_fsm.workflow.plan import JobStatus


def run(ctx: BootContext) -> str:
    """Run the job (attached to the console when interactive), record how it ended."""
    job = specs.current_job(ctx)
    record = ctx.record.jobs.setdefault(job.id, JobRecord())
    spec = specs.spec_for(ctx, job.container, specs.container_name(ctx, job.id))
    place = _begin(ctx, job, spec, record)
    ctx.save()
    ctx.progress(f"Running job {job.id}")
    ctx.log.info(
        "job.started",
        job=job.id,
        image=spec.image,
        env=specs.public_env(ctx, spec),
        **place,
    )
    prefetch = pulls.start_prefetch(ctx, job.id)
    try:
        result = _run_container(ctx, job, spec, record, place)
        record.exit_code, record.tail = result.exit_code, list(result.tail[-TAIL_LINES:])
        pulls.note_job_memory(ctx, job.id, result.peak_memory)
        if result.timed_out:
            given = "" if job.timeout_minutes else " (the default)"
            record.reason = f"ran longer than timeout-minutes: {job.timeout:g}{given}"
        elif result.exit_code != 0:
            record.reason = f"exited with code {result.exit_code}"
    except EngineError as error:
        record.reason = str(error)
    except BaseException:
        # interrupted: nothing of this job may outlive it; the interruption is what counts
        with contextlib.suppress(IguanaError):
            services.stop_all(ctx)
        raise
    finally:
        if prefetch is not None:
            prefetch.finish()
    record.finished = time.time()
    if record.reason is None:
        record.status = JobStatus.SUCCEEDED
    else:
        record.status = JobStatus.FAILED_CONTINUED if job.continue_on_error else JobStatus.FAILED
    # the outcome is on disk before any clean-up, which may fail in its turn
    ctx.save()
    ctx.log.info(
        "job.finished",
        job=job.id,
        status=record.status,
        exit_code=record.exit_code,
        seconds=round(record.duration or 0.0, 3),
        reason=record.reason,
        **place,
    )
    ctx.progress(f"Job {job.id} {record.status}")
    clean_up(ctx, job)
    # the transition that follows checkpoints the clean-up's warnings
    return next_job(ctx)


def _begin(ctx: BootContext, job: Job, spec: ContainerSpec, record: JobRecord) -> dict[str, int]:
    """Mark the job running from now, as a fresh attempt; its place in run order."""
    record.status, record.started, record.finished = JobStatus.RUNNING, time.time(), None
    record.exit_code, record.reason, record.tail = None, None, []
    record.progress, record.percent = None, None
    record.image, record.digest = job.container.image, _digest(spec.image)
    record.attempts += 1
    place = ctx.place(job.id)
    record.place, ctx.record.jobs_total = place["n"], place["of"]
    return place


def _run_container(
    ctx: BootContext, job: Job, spec: ContainerSpec, record: JobRecord, place: dict[str, int]
) -> JobResult:
    """The job's container to its end, its reports on /iguana/progress followed meanwhile."""
    # every job has a deadline: its own timeout-minutes, else the documented default
    timeout = job.timeout * 60
    # attached to the console the job shows its own output; the log file keeps a copy
    show = ctx.log.debug if ctx.interactive else ctx.log.info
    follow = JobProgress(
        ctx.paths.progress, job.id, place, record, ctx.log, ctx.save, plymouth=Plymouth.find()
    )
    with follow:
        return ctx.engine.run_job(
            spec,
            timeout=timeout,
            interactive=ctx.interactive,
            output=lambda line: show("job.output", job=job.id, line=line),
        )


def clean_up(ctx: BootContext, job: Job) -> None:
    """Stop the job's services, remove its volumes and the images no later job needs; a
    problem here is a warning in the record: the job's own outcome stands."""
    try:
        services.stop_all(ctx)
    except IguanaError as error:
        _clean_up_failed(ctx, job, "stopping its services", error)
    try:
        specs.release_images(ctx, job)
    except IguanaError as error:
        _clean_up_failed(ctx, job, "removing its images", error)


def _clean_up_failed(ctx: BootContext, job: Job, what: str, error: IguanaError) -> None:
    warning = f"job {job.id}: clean-up failed while {what}: {error}"
    ctx.record.warnings.append(warning)
    ctx.log.warning("job.cleanup_failed", job=job.id, error=str(error))


def reset(record: BootRecord) -> None:
    """For a resume: a job that was running or failed runs again; the skipped ones are weighed
    again only when a job failed (they may have been skipped because of it). A boot whose jobs
    all ended without a failure keeps their statuses: it resumes after them."""
    failed = any(job.status == JobStatus.FAILED for job in record.jobs.values())
    again = {JobStatus.RUNNING, JobStatus.FAILED} | ({JobStatus.SKIPPED} if failed else set())
    for job in record.jobs.values():
        if job.status in again:
            job.status, job.reason, job.exit_code = JobStatus.PENDING, None, None
    record.current_job = None


def _digest(reference: str) -> str | None:
    return reference.split("@", 1)[1] if "@" in reference else None
