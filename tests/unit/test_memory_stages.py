"""The pull plan at work in the verify and jobs stages (iguana_fsm/stages/pulls.py), over a
fake engine; the real registry and podman are in tests/integration/test_memory.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.engine.base import RemoteImage
from iguana_fsm.errors import MemoryRefused
from iguana_fsm.memory.plan import ALL, PER_JOB
from iguana_fsm.stages import jobs, services, verify
from tests.unit.test_trust_stages import ALLOWED, context, engine, workflow_of

MB = 1024 * 1024
A, B, C = (f"{ALLOWED}/{name}:1" for name in "abc")


def sized_engine(ctx: object, **unpacked: int) -> None:
    """The registry says each image is N MiB unpacked (N/2 downloaded); pulls measure N."""
    fake = engine(ctx)  # type: ignore[arg-type]
    for name, size in unpacked.items():
        reference = f"{ALLOWED}/{name}:1"
        fake.remote[reference] = RemoteImage(
            reference, "sha256:" + name * 64, size * MB // 2, size * MB, 1
        )
        fake.sizes[reference] = size * MB


class TestVerifyPlan:
    def test_fits_pulls_everything_and_keeps_it(self, tmp_path: Path) -> None:
        """Within the budget verify keeps every image it pulled (today's boot)."""
        ctx = context(tmp_path, workflow_of(A, B), memory_limit=1024 * MB)
        sized_engine(ctx, a=100, b=100)
        assert verify.run(ctx) == "next_job"
        assert ctx.record.memory.mode == ALL
        assert len(ctx.record.images_present) == 2
        assert [call for call in engine(ctx).calls if call[0] == "remove_image"] == []

    def test_per_job_verifies_each_and_drops_all_but_the_first_jobs(self, tmp_path: Path) -> None:
        """Over the budget every image is still pulled (trust checked) and measured; only the
        first job's stays; the plan is in the record."""
        ctx = context(tmp_path, workflow_of(A, B, C), memory_limit=200 * MB)
        sized_engine(ctx, a=100, b=100, c=100)
        assert verify.run(ctx) == "next_job"
        memory = ctx.record.memory
        assert memory.mode == PER_JOB and memory.budget is not None
        assert all(size.measured for size in memory.images.values())
        pulls = [ref for call, ref in engine(ctx).calls if call == "pull"]
        assert pulls == [B, C, A]  # the one that stays comes last
        assert ctx.record.images_present == [ctx.record.images[A]]
        assert set(ctx.record.trust.images) == {A, B, C}
        assert memory.jobs["job1"].pull == [B]

    def test_refused_before_any_download(self, tmp_path: Path) -> None:
        """A job bigger than the budget even at its download size is refused with its name and
        both byte counts, and nothing is pulled."""
        ctx = context(tmp_path, workflow_of(A, B), memory_limit=100 * MB)
        sized_engine(ctx, a=10, b=300)
        with pytest.raises(
            MemoryRefused,
            match=r"^job job1: its images need \d+ bytes .* but "
            rf"{100 * MB} bytes .* \(before any download\)",
        ):
            verify.run(ctx)
        assert [call for call in engine(ctx).calls if call[0] == "pull"] == []
        assert MemoryRefused.exit_code == 5

    def test_refused_after_measuring(self, tmp_path: Path) -> None:
        """An image bigger than its registry's figures suggest is refused once measured."""
        ctx = context(tmp_path, workflow_of(A), memory_limit=100 * MB)
        sized_engine(ctx, a=20)
        engine(ctx).sizes[A] = 150 * MB
        with pytest.raises(MemoryRefused, match="measured by the pulls in verify"):
            verify.run(ctx)


class TestJobLoop:
    def test_prefetch_and_removal_follow_the_plan(self, tmp_path: Path) -> None:
        """Per job: the next job's image is pulled while a job runs when both fit, and each
        image is removed after its job."""
        ctx = context(tmp_path, workflow_of(A, B, C), memory_limit=260 * MB)
        sized_engine(ctx, a=100, b=100, c=100)
        verify.run(ctx)
        assert ctx.record.memory.jobs["job1"].prefetch == [B]
        fake = engine(ctx)
        fake.calls.clear()
        for _ in range(3):
            services.run(ctx)
            jobs.run(ctx)
        order = [(call, arg) for call, arg in fake.calls if call in ("pull", "remove_image")]
        pinned = ctx.record.images
        assert order == [
            ("pull", pinned[B]),
            ("remove_image", pinned[A]),
            ("pull", pinned[C]),
            ("remove_image", pinned[B]),
            ("remove_image", pinned[C]),
        ]


class TestUnknownSizes:
    def test_unsized_images_are_verified_one_at_a_time(self, tmp_path: Path) -> None:
        """When a registry cannot tell an image's size, verify drops each image after its
        check (the first job's stay), so nothing unmeasured fills memory."""
        ctx = context(tmp_path, workflow_of(A, B), memory_limit=1024 * MB)
        engine(ctx).unsized.update({A, B})
        assert verify.run(ctx) == "next_job"
        assert ctx.record.images_present == [ctx.record.images[A]]
        assert ctx.record.memory.mode == PER_JOB
