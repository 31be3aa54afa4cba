"""The statuses a job goes through, in a module of their own: the checkpoint record and
``iguana status`` need them without loading the workflow model and planner."""

from __future__ import annotations

import enum


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
