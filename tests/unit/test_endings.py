"""The endings over a host that carries nothing out: what each asks of the machine, in which
order, and how a failed kexec becomes a recorded reboot."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.errors import HandoffError
from iguana_fsm.machine import END
from iguana_fsm.record import Ending, Handoff
from iguana_fsm.stages import endings
from iguana_fsm.stages.base import BootContext
from tests.unit.fake_host import FakeHost
from tests.unit.stage_context import stage_context

RELEASE = "6.12.0-1-amd64"


def kexec_ready(tmp_path: Path, host: FakeHost) -> BootContext:
    """A context in kexec whose mounted new root has the kernel and initrd the decision names."""
    ctx, _ = stage_context(tmp_path, host, "kexec", sandbox=False)
    boot = ctx.paths.newroot / "boot"
    boot.mkdir(parents=True)
    (boot / f"vmlinuz-{RELEASE}").write_text("kernel")
    (boot / f"initrd.img-{RELEASE}").write_text("initrd")
    host.mounted.add(ctx.paths.newroot)
    ctx.record.handoff = Handoff(
        Ending.KEXEC,
        "other kernel",
        kernel=f"/boot/vmlinuz-{RELEASE}",
        initrd=f"/boot/initrd.img-{RELEASE}",
        cmdline="root=UUID=x console=ttyS0",
    )
    return ctx


class TestEndings:
    def test_switch_root_needs_a_mounted_root(self, tmp_path: Path) -> None:
        """In an initrd, switch-root onto a new root that is not mounted is a HandoffError."""
        host = FakeHost()
        ctx, _ = stage_context(tmp_path, host, "switch_root", sandbox=False)
        ctx.record.handoff = Handoff(Ending.SWITCH_ROOT, "same kernel")
        with pytest.raises(HandoffError, match="is not mounted"):
            endings.switch_root(ctx)
        host.mounted.add(ctx.paths.newroot)
        assert endings.switch_root(ctx) == END
        assert ctx.record.handoff.started_at is not None

    def test_kexec_unmounts_and_syncs_before_the_new_kernel(self, tmp_path: Path) -> None:
        """kexec copies kernel and initrd out, unmounts the new root, syncs, then execs the
        kernel with the recorded command line; the start is checkpointed first."""
        host = FakeHost()
        ctx = kexec_ready(tmp_path, host)
        assert endings.kexec(ctx) == END
        assert host.names()[-3:] == ["unmount_tree", "sync", "kexec"]
        kernel, initrd, cmdline = host.calls[-1][1]
        assert (kernel, initrd) == (f"vmlinuz-{RELEASE}", f"initrd.img-{RELEASE}")
        assert cmdline == "root=UUID=x console=ttyS0"
        saved = CheckpointStore(ctx.paths.state).load().handoff
        assert saved is not None and saved.started_at is not None

    def test_failed_kexec_becomes_a_recorded_reboot(self, tmp_path: Path) -> None:
        """A kexec the host cannot carry out fires kexec_failed; the record then holds a reboot
        decision that keeps the kexec one it replaced, and reboot waits before rebooting."""
        host = FakeHost(kexec_error="kexec could not load it")
        ctx = kexec_ready(tmp_path, host)
        assert endings.kexec(ctx) == "kexec_failed"
        handoff = ctx.record.handoff
        assert handoff is not None and handoff.action == Ending.REBOOT
        assert handoff.fallback_from == Ending.KEXEC and handoff.kexec is not None
        assert handoff.kexec.kernel == f"/boot/vmlinuz-{RELEASE}"
        assert not list((ctx.paths.run / "kexec").glob("*")), "staged kernel left behind"
        with pytest.raises(HandoffError, match="did not reboot"):
            endings.reboot(ctx)
        assert ("sleep", ctx.config.reboot_delay) in host.calls
        assert host.names()[-1] == "reboot"

    def test_reboot_without_a_decision_records_one(self, tmp_path: Path) -> None:
        """Resume landing in reboot without a recorded decision records one and reboots."""
        host = FakeHost()
        ctx, sink = stage_context(tmp_path, host, "reboot")
        assert endings.reboot(ctx) == END
        assert ctx.record.handoff is not None and ctx.record.handoff.action == Ending.REBOOT
        assert "handoff.undecided" in [entry["event"] for entry in sink.entries]
        assert host.names()[-1] == "reboot"
