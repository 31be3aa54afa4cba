"""The pull plan: which images are in container storage during which job, within a budget.

Pure decisions (no I/O), table-tested. When every image fits at once the plan is today's boot:
verify pulls them all, each goes after its last use (mode ``all``). Otherwise (mode ``per-job``)
verify pulls each image once to pass it through the trust policy and measure it, then drops it;
each job's images are pulled again, by their pinned digest, just before the job (or while the
job before it runs, when both fit: a prefetch) and removed after their last use. An image a
later job needs again stays in storage in between when it fits, else it goes and comes back.

A job's need: the unpacked images in storage while it runs, plus the download of the largest
image pulled for it (a pull keeps the layers it downloaded until they are unpacked). A job whose
need exceeds the budget cannot run at all: the plan names it (``refusal``) and verify refuses
the boot before any container runs.

An image used in place (``ImageSize.in_place``: from the read-only store on the image device,
see ``stages/inplace.py``) needs no pull and no RAM for its layers: the plan leaves it out of
every need, pull, prefetch and removal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from iguana_fsm.memory.budget import Budget, human
from iguana_fsm.recordclass import field, recordclass

ALL, PER_JOB = "all", "per-job"


@recordclass
class ImageSize:
    """One image's bytes: ``download`` (layers and config as the registry serves them) and
    ``unpacked`` (in container storage: an estimate until ``measured`` by a pull)."""

    download: int
    unpacked: int
    measured: bool = False
    digest: str | None = None
    in_place: bool = False
    """Used from the image device's read-only store: never pulled, never removed, no RAM."""


@recordclass
class JobPlan:
    """What happens to images around one job: ``prefetch`` is pulled while the job before runs,
    ``pull`` just before this job, ``remove`` after it; ``need`` the bytes it takes."""

    need: int
    pull: list[str] = field(default_factory=list)
    prefetch: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)


@recordclass
class PullPlan:
    """The whole plan; ``refusal`` is the one-line reason the boot cannot run, if any."""

    mode: str
    total: int
    jobs: dict[str, JobPlan] = field(default_factory=dict)
    refusal: str | None = None


JobImages = Sequence[tuple[str, Sequence[str]]]
"""Jobs in run order, each with the images of its services and its container."""


def _unpacked(images: set[str] | list[str], sizes: Mapping[str, ImageSize]) -> int:
    return sum(sizes[image].unpacked for image in set(images) if image in sizes)


def _largest_download(images: set[str] | list[str], sizes: Mapping[str, ImageSize]) -> int:
    return max((sizes[image].download for image in images if image in sizes), default=0)


def _pulled(jobs: JobImages, sizes: Mapping[str, ImageSize]) -> JobImages:
    """``jobs`` without the images used in place (they are never in container storage)."""
    return [
        (job, [image for image in images if not (image in sizes and sizes[image].in_place)])
        for job, images in jobs
    ]


def total_need(jobs: JobImages, sizes: Mapping[str, ImageSize]) -> int:
    """Bytes with every image in storage at once (and the largest download under way)."""
    jobs = _pulled(jobs, sizes)
    every = {image for _, images in jobs for image in images}
    return _unpacked(every, sizes) + _largest_download(every, sizes)


def make_plan(jobs: JobImages, sizes: Mapping[str, ImageSize], budget: int | None) -> PullPlan:
    """The plan for ``jobs`` within ``budget`` bytes (None: unknown, today's boot)."""
    jobs = _pulled(jobs, sizes)
    total = total_need(jobs, sizes)
    if budget is None or total <= budget:
        return _all_at_once(jobs, sizes, total)
    return _per_job(jobs, sizes, budget, total)


def _last_use(jobs: JobImages) -> dict[str, int]:
    last: dict[str, int] = {}
    for index, (_, images) in enumerate(jobs):
        for image in images:
            last[image] = index
    return last


def _all_at_once(jobs: JobImages, sizes: Mapping[str, ImageSize], total: int) -> PullPlan:
    plan = PullPlan(ALL, total)
    last = _last_use(jobs)
    for index, (job, images) in enumerate(jobs):
        gone = [image for image in dict.fromkeys(images) if last[image] == index]
        plan.jobs[job] = JobPlan(need=total, remove=gone)
    return plan


def _per_job(jobs: JobImages, sizes: Mapping[str, ImageSize], budget: int, total: int) -> PullPlan:
    plan = PullPlan(PER_JOB, total)
    last = _last_use(jobs)
    resident: set[str] = set()
    previous: JobPlan | None = None
    for index, (job, images) in enumerate(jobs):
        own = set(images)
        kept = resident - own
        need = _unpacked(resident | own, sizes) + _largest_download(own - resident, sizes)
        if need > budget and kept and previous is not None:
            # what waits for a later job leaves for this one and is pulled again later
            previous.remove.extend(sorted(kept))
            resident -= kept
            need = _unpacked(own, sizes) + _largest_download(own - resident, sizes)
        if need > budget:
            plan.refusal = (
                f"job {job}: its images need {need} bytes ({human(need)}) but {budget} bytes "
                f"({human(budget)}) are available"
            )
            return plan
        step = JobPlan(need=need, pull=sorted(own - resident))
        if previous is not None and _prefetch_fits(resident, own, sizes, budget, previous):
            step.prefetch, step.pull = step.pull, []
        step.remove = sorted(image for image in resident | own if last[image] == index)
        plan.jobs[job] = step
        resident = (resident | own) - set(step.remove)
        previous = step
    return plan


def _prefetch_fits(
    resident: set[str],
    own: set[str],
    sizes: Mapping[str, ImageSize],
    budget: int,
    previous: JobPlan,
) -> bool:
    """Whether ``own``'s missing images fit beside the images of the job before while it runs
    (``resident`` is what stays after that job; what it removes is still there)."""
    during = resident | set(previous.remove)
    missing = own - resident
    return (
        bool(missing)
        and _unpacked(during | own, sizes) + _largest_download(missing, sizes) <= budget
    )


def describe(plan: PullPlan, budget: Budget, sizes: Mapping[str, ImageSize]) -> list[str]:
    """The plan as lines for the dry run and ``iguana verify``."""
    lines = [f"memory: {budget.describe()}"]
    for image, size in sizes.items():
        if size.in_place:
            lines.append(
                f"  image {image}: used in place from the image device (read-only store, "
                f"{human(size.unpacked)}): no pull, no RAM for its layers"
            )
            continue
        how = "measured" if size.measured else "estimated"
        lines.append(
            f"  image {image}: download {human(size.download)}, unpacked {human(size.unpacked)} "
            f"({how})"
        )
    mode = (
        "every image pulled in verify (they fit at once)"
        if plan.mode == ALL
        else "each job's images pulled before it, removed after their last use"
    )
    lines.append(f"  plan: {mode}; all at once would need {human(plan.total)}")
    for job, step in plan.jobs.items():
        parts = [f"needs {human(step.need)}"]
        if step.prefetch:
            parts.append("prefetch " + ", ".join(step.prefetch) + " during the job before")
        if step.pull:
            parts.append("pull " + ", ".join(step.pull) + " before it")
        if step.remove:
            parts.append("remove " + ", ".join(step.remove) + " after it")
        lines.append(f"  job {job}: " + "; ".join(parts))
    if plan.refusal:
        lines.append(f"  REFUSED: {plan.refusal}")
    return lines


def per_job_plan(jobs: JobImages, sizes: Mapping[str, ImageSize], budget: int) -> PullPlan:
    """The per-job plan even when everything would fit (verify already dropped images)."""
    jobs = _pulled(jobs, sizes)
    return _per_job(jobs, sizes, budget, total_need(jobs, sizes))
