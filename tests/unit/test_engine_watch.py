"""A job's peak memory from its container's cgroup (iguana_fsm/engine/watch.py): cgroup v2's
memory.peak or a v1 memory controller's memory.max_usage_in_bytes, in the directory podman
names after the container, looked for from before the container starts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from iguana_fsm.engine.watch import PeakSampler

CID = "0123abcd" * 8


@pytest.mark.parametrize(
    "where",
    [
        f"libpod_parent/libpod-{CID}/memory.peak",
        f"machine.slice/libpod-{CID}.scope/memory.peak",
        f"unified/libpod_parent/libpod-{CID}/memory.peak",
        f"memory/libpod_parent/libpod-{CID}/memory.max_usage_in_bytes",
    ],
)
def test_finds_the_container_cgroup(tmp_path: Path, where: str) -> None:
    """cgroupfs and systemd names, v2 (also under unified/) and v1 layouts are found."""
    peak = tmp_path / where
    peak.parent.mkdir(parents=True)
    peak.write_text("4096\n")
    assert PeakSampler(tmp_path).find(CID) == peak


def test_not_another_container(tmp_path: Path) -> None:
    """Another container's cgroup, or the root's figure, is never taken."""
    other = tmp_path / "libpod_parent" / f"libpod-{'f' * 64}" / "memory.peak"
    other.parent.mkdir(parents=True)
    other.write_text("1\n")
    (tmp_path / "memory.peak").write_text("99999999\n")
    assert PeakSampler(tmp_path).find(CID) is None


def test_samples_a_cgroup_that_appears_later(tmp_path: Path) -> None:
    """Started before the container, the sampler picks its cgroup up when it appears and keeps
    the largest figure it read, also after the cgroup went."""
    sampler = PeakSampler(tmp_path)
    sampler.start(CID)
    peak = tmp_path / "libpod_parent" / f"libpod-{CID}" / "memory.peak"
    time.sleep(0.05)
    peak.parent.mkdir(parents=True)
    # as the kernel shows a cgroup file: whole at once (a plain write_text could be read empty
    # between its truncation and its write, which the sampler takes for the cgroup gone)
    staged = peak.with_name("memory.peak.new")
    staged.write_text("8192\n")
    staged.rename(peak)
    while sampler.bytes is None:
        time.sleep(0.01)
    peak.write_text("4096\n")
    peak.unlink()
    assert sampler.stop() == 8192
    assert sampler.source == peak


def test_nothing_found_is_none(tmp_path: Path) -> None:
    """No cgroup (a job gone before it was seen, no memory controller): no figure."""
    sampler = PeakSampler(tmp_path)
    sampler.start(CID)
    assert sampler.stop() is None
