"""jobs: run the current job's container to its end, clean up after it, pick what runs next."""

from __future__ import annotations

import contextlib
import time

from iguana_fsm.checkpoint import JobRecord
from iguana_fsm.engine.base import TAIL_LINES
from iguana_fsm.errors import EngineError, IguanaError, JobFailed
from iguana_fsm.stages import services, specs
from iguana_fsm.stages.base import BootContext
from iguana_fsm.workflow.model import Job
from iguana_fsm.workflow.plan import JobStatus, run_order, should_run

DONE = frozenset(JobStatus)
"""Statuses of a job that has ended; pending and running jobs are still to run."""


def run(ctx: BootContext) -> str:
    """Run the job (attached to the console when interactive), record how it ended."""
    job = specs.current_job(ctx)
    record = ctx.record.jobs.setdefault(job.id, JobRecord())
    spec = specs.spec_for(ctx, job.container, specs.container_name(ctx, job.id))
    record.status, record.started, record.finished = "running", time.time(), None
    record.exit_code, record.reason, record.tail = None, None, []
    record.image, record.digest = job.container.image, _digest(spec.image)
    record.attempts += 1
    ctx.save()
    ctx.progress(f"Running job {job.id}")
    ctx.log.info("job.started", job=job.id, image=spec.image, env=specs.public_env(ctx, spec))
    timeout = job.timeout_minutes * 60 if job.timeout_minutes else None
    # attached to the console the job shows its own output; the log file keeps a copy
    show = ctx.log.debug if ctx.interactive else ctx.log.info
    try:
        result = ctx.engine.run_job(
            spec,
            timeout=timeout,
            interactive=ctx.interactive,
            output=lambda line: show("job.output", job=job.id, line=line),
        )
        record.exit_code, record.tail = result.exit_code, list(result.tail[-TAIL_LINES:])
        if result.timed_out:
            record.reason = f"ran longer than timeout-minutes: {job.timeout_minutes}"
        elif result.exit_code != 0:
            record.reason = f"exited with code {result.exit_code}"
    except EngineError as error:
        record.reason = str(error)
    except BaseException:
        # interrupted: nothing of this job may outlive it; the interruption is what counts
        with contextlib.suppress(IguanaError):
            services.stop_all(ctx)
        raise
    record.finished = time.time()
    if record.reason is None:
        record.status = "succeeded"
    else:
        record.status = "failed-continued" if job.continue_on_error else "failed"
    # the outcome is on disk before any clean-up, which may fail in its turn
    ctx.save()
    ctx.log.info(
        "job.finished",
        job=job.id,
        status=record.status,
        exit_code=record.exit_code,
        seconds=round(record.finished - record.started, 3),
        reason=record.reason,
    )
    ctx.progress(f"Job {job.id} {record.status}")
    clean_up(ctx, job)
    ctx.save()
    return advance(ctx)


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


def advance(ctx: BootContext) -> str:
    """Choose the next job that runs (marking the skipped ones on the way): ``next_job``, or
    ``jobs_done`` when none is left. Raises JobFailed, naming the first failed job, when the
    jobs are over and one failed without ``continue-on-error``."""
    workflow = ctx.need_workflow()
    results = {job_id: job.status for job_id, job in ctx.record.jobs.items()}
    for job in run_order(workflow):
        record = ctx.record.jobs.setdefault(job.id, JobRecord(image=job.container.image))
        if record.status in DONE:
            continue
        runs, reason = should_run(job, results)
        if not runs:
            record.status, record.reason = "skipped", reason
            results[job.id] = "skipped"
            ctx.log.info("job.skipped", job=job.id, reason=reason)
            # verify pulled its images too; they are not needed for it any more
            specs.release_images(ctx, job)
            continue
        ctx.record.current_job = job.id
        return "next_job"
    ctx.record.current_job = None
    for job_id, record in ctx.record.jobs.items():
        if record.status == "failed":
            raise JobFailed(f"job {job_id} failed: {record.reason}", job=job_id)
    return "jobs_done"


def _digest(reference: str) -> str | None:
    return reference.split("@", 1)[1] if "@" in reference else None
