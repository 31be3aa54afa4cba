"""A whole sandbox boot through the real runner, with the real mount stage and endings: the job
(run by a fake engine, since containers are not the point here) writes the mountlist and fills a
directory under /iguana, as the demo's installer does; Iguana bind-mounts it, decides, leaves its
record in the installed system and unmounts everything at the end."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from iguana_fsm.contract import iguana_dir_of
from iguana_fsm.engine.base import ContainerSpec
from iguana_fsm.errors import ExitCode
from iguana_fsm.mounts import mounted_under
from iguana_fsm.stages import default_stages
from tests.unit.boot_harness import Boot

pytestmark = pytest.mark.integration

WORKFLOW = """\
name: handoff
jobs:
  install:
    container: {image: registry.example/install:1}
"""


def installer(
    release: str, kernel_action: str | None = None, state_link: Path | None = None
) -> Callable[[ContainerSpec], None]:
    """A job that installs a root under /iguana/newroot with modules for ``release``; with
    ``state_link`` its var/log/iguana/state is a symbolic link to that (absolute) path."""

    def job(spec: ContainerSpec) -> None:
        iguana = iguana_dir_of(spec)
        root = iguana / "newroot"
        (root / "lib" / "modules" / release).mkdir(parents=True)
        (root / "etc").mkdir()
        (root / "var" / "log").mkdir(parents=True)
        if state_link is not None:
            (root / "var" / "log" / "iguana").mkdir()
            (root / "var" / "log" / "iguana" / "state").symlink_to(state_link)
        (iguana / "mountlist").write_text("/iguana/newroot /\ntmpfs /run size=1m\n")
        if kernel_action is not None:
            (iguana / "kernelAction").write_text(kernel_action)

    return job


def real_endings(boot: Boot) -> None:
    """Use the real mount and ending stages instead of the harness doubles."""
    stages = default_stages()
    for state in ("mount", "switch_root", "kexec", "reboot"):
        boot.replace(state, stages[state])


class TestWholeBoot:
    def test_switch_root_into_a_bind_mounted_directory(self, tmp_path: Path) -> None:
        """The boot ends in switch_root with the reason recorded, the installed system holds
        the checkpoint that shows every state, and nothing stays mounted."""
        boot = Boot(tmp_path, WORKFLOW)
        boot.engine.on_job = installer(os.uname().release)
        real_endings(boot)
        try:
            assert boot.run() == 0
        finally:
            leftovers = mounted_under(tmp_path)
        assert leftovers == []
        record = boot.record()
        assert record.state == "switch_root"
        assert record.handoff is not None
        assert record.handoff.action == "switch_root"
        assert [m.mountpoint for m in record.handoff.mounts] == ["/", "/run"]
        installed = tmp_path / "iguana" / "newroot"
        copied = json.loads((installed / "var" / "log" / "iguana" / "state").read_text())
        assert [step["dest"] for step in copied["history"]][-2:] == ["mount", "switch_root"]
        assert (installed / "etc" / "machine-id").is_file()
        assert boot.host.actions == []

    def test_other_kernel_and_reboot_asked(self, tmp_path: Path) -> None:
        """A root for another kernel with kernelAction reboot ends in a recorded reboot."""
        boot = Boot(tmp_path, WORKFLOW)
        boot.engine.on_job = installer("0.0.1-other", "reboot\n")
        real_endings(boot)
        try:
            assert boot.run() == 0
        finally:
            leftovers = mounted_under(tmp_path)
        assert leftovers == []
        record = boot.record()
        assert record.state == "reboot"
        assert record.handoff is not None
        assert "kernelAction asks for reboot" in record.handoff.reason
        assert boot.host.actions == [{"action": "reboot", "reason": record.handoff.reason}]

    def test_planted_link_in_the_installed_system_is_not_followed(self, tmp_path: Path) -> None:
        """An installed system whose var/log/iguana/state links to a file of the initrd gets a
        regular file there; the linked file keeps its content and mode."""
        victim = tmp_path / "initrd-file"
        victim.write_text("belongs to the initrd\n")
        victim.chmod(0o644)
        boot = Boot(tmp_path, WORKFLOW)
        boot.engine.on_job = installer(os.uname().release, state_link=victim)
        real_endings(boot)
        try:
            assert boot.run() == 0
        finally:
            leftovers = mounted_under(tmp_path)
        assert leftovers == []
        assert victim.read_text() == "belongs to the initrd\n"
        assert victim.stat().st_mode & 0o777 == 0o644
        copy = tmp_path / "iguana" / "newroot" / "var" / "log" / "iguana" / "state"
        assert stat.S_ISREG(copy.lstat().st_mode)
        assert json.loads(copy.read_text())["state"] == "switch_root"
        assert not any("cannot copy" in warning for warning in boot.record().warnings)

    def test_a_kernel_action_that_is_no_file_is_refused(self, tmp_path: Path) -> None:
        """A kernelAction that is not a regular file (a directory) is refused with exit 7 in
        the mount stage, naming the file, and nothing is left mounted."""
        boot = Boot(tmp_path, WORKFLOW)
        make_root = installer(os.uname().release)

        def job(spec: ContainerSpec) -> None:
            make_root(spec)
            (iguana_dir_of(spec) / "kernelAction").mkdir()

        boot.engine.on_job = job
        real_endings(boot)
        try:
            assert boot.run() == ExitCode.MOUNT
        finally:
            leftovers = mounted_under(tmp_path)
        assert leftovers == []
        record = boot.record()
        assert record.state == "rescue" and record.failed_state == "mount"
        assert record.error is not None
        assert record.error.message.endswith(
            "kernelAction: is a directory, not a regular file; not read"
        )
