"""The mount stage's decisions over a host that mounts nothing: which mounts it asks for, which
ending it chooses and records, and what it refuses. Real mounts: tests/integration."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.errors import MountError
from iguana_fsm.record import Ending, MountedEntry
from iguana_fsm.stages import mount
from iguana_fsm.stages.base import BootContext
from tests.unit.fake_host import FakeHost
from tests.unit.stage_context import stage_context

MACHINE_ID = "0123456789abcdef0123456789abcdef"
OTHER = "6.12.0-1-amd64"


def prepared(tmp_path: Path, host: FakeHost, mountlist: str | None) -> BootContext:
    """A context whose containers left ``mountlist`` and a root directory under /iguana."""
    ctx, _ = stage_context(tmp_path, host, "mount")
    ctx.paths.machine_id.write_text(MACHINE_ID + "\n")
    (ctx.paths.iguana / "root").mkdir()
    if mountlist is not None:
        ctx.paths.mountlist.write_text(mountlist)
    return ctx


def root_with(ctx: BootContext, release: str, boot: bool = False) -> None:
    """What the mounted new root holds: modules of ``release`` and, with ``boot``, its kernel
    and initrd (the host mounts nothing, so the stage reads this directory)."""
    newroot = ctx.paths.newroot
    (newroot / "lib" / "modules" / release).mkdir(parents=True)
    (newroot / "etc").mkdir(exist_ok=True)
    if boot:
        (newroot / "boot").mkdir()
        (newroot / "boot" / f"vmlinuz-{release}").write_text("kernel")
        (newroot / "boot" / f"initrd.img-{release}").write_text("initrd")


class TestMountStage:
    def test_modules_of_the_running_kernel_mean_switch_root(self, tmp_path: Path) -> None:
        """The mountlist's lines become bind and tmpfs mounts in order; a root with modules
        for the running kernel is switched to, and the decision is on disk before the trigger."""
        host = FakeHost()
        ctx = prepared(tmp_path, host, "/iguana/root /\ntmpfs /run\n")
        root_with(ctx, host.running)
        assert mount.run(ctx) == "choose_switch_root"
        assert host.calls[0] == ("unmount_tree", ctx.paths.newroot)
        assert ("mount_all", [("bind", str(ctx.paths.iguana / "root"), "/"),
                              ("tmpfs", "tmpfs", "/run")]) in host.calls  # fmt: skip
        saved = CheckpointStore(ctx.paths.state).load().handoff
        assert saved is not None and saved.action == Ending.SWITCH_ROOT
        assert saved.running_kernel == host.running and not saved.mounts_skipped
        assert saved.mounts[0] == MountedEntry(
            1, "/iguana/root", str(ctx.paths.iguana / "root"), "/"
        )
        assert saved.machine_id == "written"

    def test_another_kernel_with_its_initrd_means_kexec(self, tmp_path: Path) -> None:
        """Modules only for another kernel whose /boot has kernel and initrd: kexec, with the
        running console= words on its command line."""
        host = FakeHost()
        ctx = prepared(tmp_path, host, "/iguana/root /\n")
        root_with(ctx, OTHER, boot=True)
        assert mount.run(ctx) == "choose_kexec"
        assert ctx.record.handoff is not None
        assert ctx.record.handoff.kernel == f"/boot/vmlinuz-{OTHER}"
        assert ctx.record.handoff.cmdline == "console=ttyS0,115200"

    def test_kernel_action_reboot_is_obeyed_for_another_kernel(self, tmp_path: Path) -> None:
        """kernelAction reboot wins over kexec when the kernels differ."""
        host = FakeHost()
        ctx = prepared(tmp_path, host, "/iguana/root /\n")
        ctx.paths.kernel_action.write_text("reboot\n")
        root_with(ctx, OTHER, boot=True)
        assert mount.run(ctx) == "choose_reboot"
        assert ctx.record.handoff is not None and ctx.record.handoff.kernel_action == "reboot"

    def test_a_host_that_may_not_mount_records_mounts_skipped(self, tmp_path: Path) -> None:
        """Without the right to mount (sandbox, not root) nothing is mounted, the list is still
        checked, and the hand-off says the mounts were skipped."""
        host = FakeHost(mounting=False)
        ctx = prepared(tmp_path, host, "/iguana/root /\n")
        root_with(ctx, host.running)
        assert mount.run(ctx) == "choose_switch_root"
        assert "mount_all" not in host.names()
        assert ctx.record.handoff is not None and ctx.record.handoff.mounts_skipped

    def test_a_bad_line_names_itself_and_mounts_nothing(self, tmp_path: Path) -> None:
        """A mountlist line whose source is neither a device nor a directory is a MountError
        naming the file and line; nothing is mounted."""
        host = FakeHost()
        ctx = prepared(tmp_path, host, "/iguana/root /\n/iguana/missing /home\n")
        with pytest.raises(MountError, match=r"mountlist:2: /iguana/missing is neither"):
            mount.run(ctx)
        assert "mount_all" not in host.names()

    def test_no_mountlist_and_no_root_reboots_only_when_asked(self, tmp_path: Path) -> None:
        """Without a mountlist or a root partition to guess the stage fails, unless
        kernelAction asks for a reboot."""
        host = FakeHost()
        ctx = prepared(tmp_path, host, None)
        with pytest.raises(MountError, match="write a mountlist"):
            mount.run(ctx)
        ctx.paths.kernel_action.write_text("reboot")
        assert mount.run(ctx) == "choose_reboot"
        assert ctx.record.handoff is not None and ctx.record.handoff.mountlist is None
