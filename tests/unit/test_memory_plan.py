"""The pull plan's decisions (iguana_fsm/memory/plan.py) and the budget's arithmetic
(iguana_fsm/memory/budget.py), as tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.cmdline import parse_cmdline
from iguana_fsm.errors import UsageError
from iguana_fsm.memory.budget import Budget, mem_available, parse_size, used_bytes
from iguana_fsm.memory.plan import ALL, PER_JOB, ImageSize, make_plan, total_need

MB = 1024 * 1024


def sized(**images: int) -> dict[str, ImageSize]:
    """Images of N MiB unpacked and N/2 MiB downloaded each."""
    return {
        name: ImageSize(size * MB // 2, size * MB, measured=True) for name, size in images.items()
    }


class TestPlan:
    def test_everything_fits_is_todays_boot(self) -> None:
        """When all images and the largest download fit, verify pulls them all (mode all) and
        each goes after its last use."""
        jobs = [("one", ["a"]), ("two", ["b", "a"])]
        plan = make_plan(jobs, sized(a=100, b=50), 300 * MB)
        assert plan.mode == ALL
        assert plan.total == 150 * MB + 50 * MB
        assert plan.jobs["one"].remove == []
        assert sorted(plan.jobs["two"].remove) == ["a", "b"]
        assert plan.refusal is None

    def test_unknown_budget_keeps_todays_boot(self) -> None:
        """Without a known budget nothing changes."""
        assert make_plan([("one", ["a"])], sized(a=100), None).mode == ALL

    def test_per_job_pulls_before_and_removes_after(self) -> None:
        """Three 100 MiB images in 240 MiB: each job pulls its own image and removes it."""
        jobs = [("one", ["a"]), ("two", ["b"]), ("three", ["c"])]
        plan = make_plan(jobs, sized(a=100, b=100, c=100), 240 * MB)
        assert plan.mode == PER_JOB
        for job, image in (("one", "a"), ("two", "b"), ("three", "c")):
            assert plan.jobs[job].remove == [image]
            assert plan.jobs[job].need == 150 * MB
        assert plan.jobs["one"].pull == ["a"]
        # 100 MiB in use during job one, plus 100 unpacked and 50 downloading: 250, no prefetch
        assert plan.jobs["two"].pull == ["b"] and plan.jobs["two"].prefetch == []

    def test_prefetch_when_both_fit(self) -> None:
        """The next job's image is pulled during the job before when both fit."""
        jobs = [("one", ["a"]), ("two", ["b"]), ("three", ["c"])]
        plan = make_plan(jobs, sized(a=100, b=100, c=100), 260 * MB)
        assert plan.mode == PER_JOB
        assert plan.jobs["two"].prefetch == ["b"] and plan.jobs["two"].pull == []
        assert plan.jobs["three"].prefetch == ["c"]

    def test_shared_image_stays_between_its_uses_when_it_fits(self) -> None:
        """An image used by jobs one and three stays through job two if room allows."""
        jobs = [("one", ["a"]), ("two", ["b"]), ("three", ["a"])]
        plan = make_plan(jobs, sized(a=100, b=100), 260 * MB)
        assert plan.jobs["one"].remove == []
        assert plan.jobs["three"].pull == [] and plan.jobs["three"].prefetch == []
        assert plan.jobs["three"].remove == ["a"]

    def test_shared_image_leaves_and_returns_when_it_does_not_fit(self) -> None:
        """Without room for both, the shared image goes after job one and comes back."""
        jobs = [("one", ["a"]), ("two", ["b"]), ("three", ["a"])]
        plan = make_plan(jobs, sized(a=100, b=100), 160 * MB)
        assert plan.jobs["one"].remove == ["a"]
        assert plan.jobs["three"].pull == ["a"]

    def test_job_that_cannot_fit_is_refused_by_name(self) -> None:
        """A job whose images exceed the budget alone is named with both byte counts."""
        jobs = [("small", ["a"]), ("big", ["b", "c"])]
        plan = make_plan(jobs, sized(a=10, b=100, c=100), 200 * MB)
        assert plan.refusal is not None
        assert plan.refusal.startswith(f"job big: its images need {250 * MB} bytes")
        assert f"but {200 * MB} bytes" in plan.refusal

    def test_unknown_sizes_count_nothing(self) -> None:
        """An image the registry did not size counts 0 until a pull measures it."""
        assert total_need([("one", ["a", "b"])], sized(a=10)) == 10 * MB + 5 * MB


class TestBudget:
    @pytest.mark.parametrize(
        ("text", "size"),
        [
            ("0", 0),
            ("512", 512),
            ("64K", 64 * 1024),
            ("300M", 300 * MB),
            ("2g", 2048 * MB),
            ("10MiB", 10 * MB),
        ],
    )
    def test_sizes(self, text: str, size: int) -> None:
        """Sizes are bytes or binary K/M/G/T, as tmpfs takes them."""
        assert parse_size(text) == size

    @pytest.mark.parametrize("text", ["", "-1", "1.5G", "12X", "M"])
    def test_bad_sizes(self, text: str) -> None:
        """Anything else is refused."""
        with pytest.raises(ValueError):
            parse_size(text)

    def test_budget_is_the_smallest_bound(self) -> None:
        """MemAvailable less the reserve, the limit and the storage's free space: the least."""
        assert Budget(1000, 100).bytes == 900
        assert Budget(1000, 100, limit=500).bytes == 500
        assert Budget(1000, 100, limit=500, storage_free=300).bytes == 300
        assert Budget(50, 100).bytes == 0
        assert Budget(None, 100).bytes is None

    def test_mem_available_read_from_meminfo(self, tmp_path: Path) -> None:
        """MemAvailable is read in kB and given in bytes."""
        meminfo = tmp_path / "meminfo"
        meminfo.write_text("MemTotal: 2048 kB\nMemFree: 100 kB\nMemAvailable: 1024 kB\n")
        assert mem_available(meminfo) == 1024 * 1024
        meminfo.write_text("MemTotal: 2048 kB\n")
        assert mem_available(meminfo) is None

    def test_kernel_options(self) -> None:
        """rd.iguana.memory_reserve and memory_limit take sizes; a bad one is named."""
        config = parse_cmdline("rd.iguana.memory_reserve=64M rd.iguana.memory_limit=1G")
        assert (config.memory_reserve, config.memory_limit) == (64 * MB, 1024 * MB)
        with pytest.raises(UsageError, match=r"rd\.iguana\.memory_limit=lots: expected a size"):
            parse_cmdline("rd.iguana.memory_limit=lots")

    def test_storage_use_only_of_a_file_system_of_its_own(self, tmp_path: Path) -> None:
        """Storage use is read from a mount point (or a directory right below one), never
        from a directory deep inside a larger file system."""
        deep = tmp_path / "a" / "b"
        deep.mkdir(parents=True)
        assert used_bytes(deep) is None
        assert isinstance(used_bytes(Path("/proc")), int)
