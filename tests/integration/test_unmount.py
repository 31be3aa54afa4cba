"""unmount_tree against real mounts: stacked and nested ones all go, children first."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from iguana_fsm import mounts
from iguana_fsm.log import make_logger
from iguana_fsm.mounts import mounted_under, unmount_tree

pytestmark = pytest.mark.integration


def tmpfs(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(target)], check=True)


def detach(top: Path) -> None:
    """Whatever the test left mounted under ``top`` goes, whatever happened."""
    for point in reversed(mounted_under(top)):
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


class TestUnmountTree:
    def test_stacked_and_nested_mounts_are_all_unmounted(self, tmp_path: Path) -> None:
        """Two mounts stacked on one path and one nested below them leave nothing mounted."""
        top = tmp_path / "top"
        try:
            tmpfs(top)
            tmpfs(top)  # stacked on the first
            tmpfs(top / "child")
            assert len(mounted_under(top)) == 3
            unmounted = unmount_tree(top, make_logger(None, console=None))
            assert mounted_under(top) == []
            assert len(unmounted) == 3
        finally:
            detach(top)

    def test_a_mount_added_while_unmounting_goes_too(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A mount that appears under the tree during the first pass (as podman's clean-up of
        a failed container does) is unmounted by a later pass instead of failing."""
        top = tmp_path / "top"
        real_unmount = mounts._unmount
        added: list[Path] = []

        def unmount_while_something_mounts(target: Path, log: object) -> None:
            real_unmount(target, log)
            if not added:
                added.append(top / "late")
                tmpfs(top / "late")

        try:
            top.mkdir()
            tmpfs(top / "early")
            monkeypatch.setattr(mounts, "_unmount", unmount_while_something_mounts)
            unmount_tree(top, make_logger(None, console=None))
            assert added and mounted_under(top) == []
        finally:
            detach(top)
