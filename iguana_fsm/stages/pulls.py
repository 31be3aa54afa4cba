"""The pull plan at work (``memory/plan.py`` decides): sizes and budget before verify pulls,
the plan checked again with the sizes the pulls measured, prefetches while a job runs, and the
images a job leaves behind. Everything known goes into ``record.memory``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from iguana_fsm.engine.base import ImageInfo
from iguana_fsm.errors import IguanaError, MemoryRefused
from iguana_fsm.memory.budget import DEFAULT_STORAGE, mem_available, read_budget, used_bytes
from iguana_fsm.memory.plan import PER_JOB, ImageSize, PullPlan, make_plan, per_job_plan
from iguana_fsm.record import to_plain
from iguana_fsm.stages import specs
from iguana_fsm.stages.base import BootContext

FIX = "fix: give the machine more memory, lower rd.iguana.memory_reserve, or use smaller images"


def job_images(ctx: BootContext) -> list[tuple[str, list[str]]]:
    """Each job in run order with its images (services first), as written."""
    return [
        (job.id, [container.image for container in specs.containers_of(job)])
        for job in ctx.run_order()
    ]


def plan_before_pulling(ctx: BootContext, references: Iterable[str]) -> PullPlan:
    """Ask the registries for sizes, read the budget, keep the plan; MemoryRefused when even
    the smallest the images can be (unpacked as large as downloaded) does not fit one job."""
    memory = ctx.record.memory
    for reference in references:
        if reference in memory.images:
            continue
        found = ctx.engine.inspect_remote(reference)
        if found is not None:
            memory.images[reference] = ImageSize(
                found.download, found.unpacked, False, found.digest
            )
    budget = read_budget(ctx.config.memory_reserve, ctx.config.memory_limit, ctx.paths.storage)
    memory.budget = budget
    jobs = job_images(ctx)
    floor = {
        ref: ImageSize(size.download, size.download, in_place=size.in_place)
        for ref, size in memory.images.items()
    }
    smallest = make_plan(jobs, floor, budget.bytes)
    if smallest.refusal is not None:
        _refuse(ctx, smallest, "before any download")
    plan = make_plan(jobs, memory.images, budget.bytes)
    _keep(ctx, plan)
    return plan


def measured(ctx: BootContext, reference: str, info: ImageInfo) -> None:
    """Note the size a pull measured for ``reference``."""
    size = ctx.record.memory.images.get(reference)
    if info.size is None:
        return
    download = size.download if size is not None else info.size
    ctx.record.memory.images[reference] = ImageSize(download, info.size, True, info.digest)


def plan_after_pulling(ctx: BootContext, dropped: bool) -> PullPlan:
    """The plan again with measured sizes (per job once images were dropped); MemoryRefused
    when a job does not fit."""
    memory = ctx.record.memory
    budget = memory.budget.bytes if memory.budget is not None else None
    jobs = job_images(ctx)
    if dropped and budget is not None:
        plan = per_job_plan(jobs, memory.images, budget)
    else:
        plan = make_plan(jobs, memory.images, budget)
    if plan.refusal is not None:
        _refuse(ctx, plan, "measured by the pulls in verify")
    _keep(ctx, plan)
    return plan


def _keep(ctx: BootContext, plan: PullPlan) -> None:
    memory = ctx.record.memory
    memory.mode, memory.total, memory.jobs = plan.mode, plan.total, plan.jobs
    ctx.log.info(
        "memory.plan",
        mode=plan.mode,
        total=plan.total,
        budget=to_plain(memory.budget),
        jobs=to_plain(plan.jobs),
        images=to_plain(memory.images),
    )


def _refuse(ctx: BootContext, plan: PullPlan, when: str) -> None:
    _keep(ctx, plan)
    raise MemoryRefused(f"{plan.refusal} ({when}); {FIX}")


def kept_in_verify(ctx: BootContext, plan: PullPlan) -> set[str]:
    """The images verify leaves in storage: all of them, or (per job, or when a registry did
    not tell an image's size: nothing unmeasured may fill memory) the first job's."""
    jobs = job_images(ctx)
    memory = ctx.record.memory
    every = {image for _, images in jobs for image in images}
    unknown = sorted(every - set(memory.images))
    cautious = bool(unknown) and memory.budget is not None and memory.budget.bytes is not None
    if cautious:
        ctx.log.info("memory.sizes_unknown", images=unknown)
    if plan.mode != PER_JOB and not cautious:
        return every
    return set(jobs[0][1]) if jobs else set()


class Prefetch:
    """Pulls the next job's images (pinned) in a thread while the current job runs."""

    def __init__(self, ctx: BootContext, references: list[str]) -> None:
        self.ctx = ctx
        self.references = references
        self.pulled: list[str] = []
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._pull, daemon=True)

    def _pull(self) -> None:
        for reference in self.references:
            try:
                self.ctx.engine.pull(reference)
            except IguanaError as error:
                self.errors.append(str(error))
                return
            self.pulled.append(reference)

    def start(self) -> Prefetch:
        """Begin pulling; logged as ``image.prefetch``."""
        self.ctx.log.info("image.prefetch", images=self.references)
        self._thread.start()
        return self

    def finish(self) -> None:
        """Wait for the pulls; what came is present, a failure is a warning (the pull before
        the job tries again and fails the boot properly)."""
        self._thread.join()
        for reference in self.pulled:
            specs.mark_present(self.ctx, reference)
            self.ctx.log.info("image.prefetched", image=reference)
        for error in self.errors:
            self.ctx.log.warning("image.prefetch_failed", error=error)


def start_prefetch(ctx: BootContext, job_id: str) -> Prefetch | None:
    """The prefetch the plan asks for while ``job_id`` runs (the next job's), if any."""
    order = [job.id for job in ctx.run_order()]
    position = order.index(job_id)
    if position + 1 >= len(order):
        return None
    step = ctx.record.memory.jobs.get(order[position + 1])
    if step is None or not step.prefetch:
        return None
    present = ctx.record.images_present
    wanted = [specs.pinned(ctx, image) for image in step.prefetch]
    missing = [reference for reference in dict.fromkeys(wanted) if reference not in present]
    return Prefetch(ctx, missing).start() if missing else None


def note_job_memory(ctx: BootContext, job_id: str, peak: int | None) -> None:
    """Keep a job's peak and the storage in use after it; logged as ``memory.job``."""
    record = ctx.record.jobs[job_id]
    record.peak_memory = peak
    record.storage_used = used_bytes(ctx.paths.storage or DEFAULT_STORAGE)
    memory = ctx.record.memory
    if peak is not None:
        memory.peak = max(memory.peak or 0, peak)
    ctx.log.info(
        "memory.job",
        job=job_id,
        peak=peak,
        storage_used=record.storage_used,
        mem_available=mem_available(),
    )
