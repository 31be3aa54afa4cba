"""Which job runs next: the one home of that choice, used by verify (the first job), jobs (the
one after) and ``reentry`` (where a resume enters).

Jobs run in ``run_order``; each one's ``if:`` and ``needs`` are weighed against the statuses of
the jobs before it (``workflow.plan.should_run``); the ones that do not run are marked skipped on
the way.
"""

from __future__ import annotations

from iguana_fsm.errors import JobFailed
from iguana_fsm.record import JobRecord
from iguana_fsm.stages import specs
from iguana_fsm.stages.base import BootContext
from iguana_fsm.workflow.plan import ENDED, JobStatus, should_run


def next_job(ctx: BootContext) -> str:
    """Choose the next job that runs (marking the skipped ones on the way): ``next_job``, or
    ``jobs_done`` when none is left. Raises JobFailed, naming the first failed job, when the
    jobs are over and one failed without ``continue-on-error``."""
    results = {job_id: job.status for job_id, job in ctx.record.jobs.items()}
    for job in ctx.run_order():
        record = ctx.record.jobs.setdefault(job.id, JobRecord(image=job.container.image))
        if record.status in ENDED:
            continue
        runs, reason = should_run(job, results)
        if not runs:
            record.status, record.reason = JobStatus.SKIPPED, reason
            results[job.id] = JobStatus.SKIPPED
            ctx.log.info("job.skipped", job=job.id, reason=reason, **ctx.place(job.id))
            # verify pulled its images too; they are not needed for it any more
            specs.release_images(ctx, job)
            continue
        ctx.record.current_job = job.id
        return "next_job"
    ctx.record.current_job = None
    for job_id, record in ctx.record.jobs.items():
        if record.status == JobStatus.FAILED:
            raise JobFailed(f"job {job_id} failed: {record.reason}", job=job_id)
    return "jobs_done"
