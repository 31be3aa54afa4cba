"""The three endings: switch-root, kexec, reboot. The mount stage has decided which and written
the decision to the checkpoint; these stages leave the boot's checkpoint and log in the installed
system (``/var/log/iguana/``) and carry the decision out through ``ctx.host``.

In sandbox mode the host only records, nothing switches root, and everything mounted under the
sandbox's new root is unmounted at the end so that no mount outlives ``iguana run``.
"""

from __future__ import annotations

import time

from iguana_fsm.errors import HandoffError
from iguana_fsm.handoff import copy_boot_record, stage_kernel
from iguana_fsm.machine import END
from iguana_fsm.record import Ending, Handoff
from iguana_fsm.report_device import leave_report
from iguana_fsm.stages.base import BootContext


def switch_root(ctx: BootContext) -> str:
    """Leave the new root mounted for dracut to switch to (sandbox: unmount it)."""
    handoff = _handoff(ctx, Ending.SWITCH_ROOT)
    newroot = ctx.paths.newroot
    if not ctx.paths.sandbox and not ctx.host.is_mount_point(newroot):
        raise HandoffError(f"{newroot} is not mounted: there is no root to switch to")
    _leave_record(ctx)
    if ctx.paths.sandbox:
        # the sandbox's hand-off is this unmount: the boot is not over while a mount is left
        ctx.host.unmount_tree(newroot, ctx.log)
        _started(ctx, handoff)
        ctx.log.info("handoff.switch_root", newroot=str(newroot), sandbox=True)
        return END
    _started(ctx, handoff)
    ctx.log.info("handoff.switch_root", newroot=str(newroot))
    return END


def kexec(ctx: BootContext) -> str:
    """Copy kernel and initrd out of the new root, unmount it, sync and exec the new kernel;
    ``kexec_failed`` (decision rewritten to a reboot) when loading or exec fails."""
    handoff = _handoff(ctx, Ending.KEXEC)
    kernel = handoff.kernel
    if kernel is None:
        return _kexec_failed(ctx, "the decision names no kernel")
    newroot = ctx.paths.newroot
    _leave_record(ctx)
    try:
        staged = stage_kernel(newroot, kernel, handoff.initrd, ctx.paths.run / "kexec")
    except HandoffError as error:
        return _kexec_failed(ctx, str(error))
    ctx.host.unmount_tree(newroot, ctx.log)
    ctx.host.sync()
    _started(ctx, handoff)
    try:
        ctx.host.kexec(staged.kernel, staged.initrd, handoff.cmdline or "")
    except HandoffError as error:
        staged.remove()
        return _kexec_failed(ctx, str(error))
    # Only a recording host returns here; a real kexec never does (it raises instead).
    staged.remove()
    ctx.log.info("handoff.kexec", kernel=kernel, sandbox=ctx.paths.sandbox)
    return END


def reboot(ctx: BootContext) -> str:
    """Leave the record in the new root if it is mounted, unmount it and reboot; after a failed
    kexec wait ``rd.iguana.reboot_delay`` first so the console can be read."""
    handoff = _handoff(ctx, Ending.REBOOT)
    newroot = ctx.paths.newroot
    if _root_available(ctx):
        _leave_record(ctx)
    if newroot.exists():
        ctx.host.unmount_tree(newroot, ctx.log)
    if handoff.fallback_from is not None:
        ctx.host.sleep(ctx.config.reboot_delay)
    _started(ctx, handoff)
    ctx.log.info("handoff.reboot", reason=handoff.reason)
    ctx.host.reboot(handoff.reason)
    if not ctx.paths.sandbox:
        raise HandoffError("the machine did not reboot")
    return END


def _handoff(ctx: BootContext, action: Ending) -> Handoff:
    """The recorded decision; one is made up (and recorded) when resume lands here without."""
    handoff = ctx.record.handoff
    if handoff is None or handoff.action != action:
        handoff = Handoff(action, "no decision was recorded for this ending")
        ctx.record.handoff = handoff
        ctx.log.warning("handoff.undecided", action=action)
    return handoff


def _started(ctx: BootContext, handoff: Handoff) -> None:
    """Only the hand-off itself is left: from here the boot counts as finished (``iguana
    status`` 0, resume refused); a kill before this point leaves it interrupted at its ending,
    and resume carries the ending out again from mount."""
    handoff.started_at = time.time()
    ctx.record.finished = handoff.started_at
    ctx.save()
    leave_report(ctx)


def _root_available(ctx: BootContext) -> bool:
    newroot = ctx.paths.newroot
    if ctx.host.is_mount_point(newroot):
        return True
    # Sandbox without root: nothing was mounted, the containers filled the directory itself.
    handoff = ctx.record.handoff
    skipped = handoff is not None and handoff.mounts_skipped
    return ctx.paths.sandbox and skipped and newroot.is_dir()


def _leave_record(ctx: BootContext) -> None:
    """Checkpoint now and copy checkpoint and log to the installed system's /var/log/iguana."""
    if not _root_available(ctx):
        ctx.log.warning("handoff.record_not_copied", why=f"{ctx.paths.newroot} is not mounted")
        return
    ctx.save()
    try:
        copies = copy_boot_record(ctx.paths.newroot, (ctx.paths.state, ctx.paths.log))
    except HandoffError as error:
        # A read-only or full root must not stop a boot whose work is done: say so instead.
        ctx.record.warnings.append(str(error))
        ctx.log.warning("handoff.record_not_copied", why=str(error))
        return
    ctx.log.info("handoff.record_copied", files=[str(copy) for copy in copies])


def _kexec_failed(ctx: BootContext, why: str) -> str:
    ctx.record.handoff = Handoff(
        Ending.REBOOT,
        f"kexec failed: {why}",
        fallback_from=Ending.KEXEC,
        kexec=ctx.record.handoff,
        decided_at=time.time(),
    )
    ctx.record.finished = None
    ctx.log.error("handoff.kexec_failed", error=why)
    ctx.save()
    return "kexec_failed"
