"""The mount stage: mount the new root, give it the machine id, decide the ending.

The mounts come from ``/iguana/mountlist``; without one, the root partition is guessed by its
DPS type GUID (logged as a guess, with the reason). A LUKS device is never unlocked here: the
ending becomes a reboot into the installed system's own initrd. The decision is written to
``record.handoff`` and checkpointed before the trigger is returned, so it is on disk before any
ending is carried out. In sandbox mode only devices under the sandbox directory are used, and
when the host may not mount (the sandbox without root) nothing is mounted (the mountlist is
still checked). Mounts, the running kernel and its command line come from ``ctx.host``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from iguana_fsm import identity
from iguana_fsm.devices import (
    FLAG_READ_ONLY,
    DeviceScope,
    crypt_module_present,
    guess_root,
    wait_for,
)
from iguana_fsm.errors import MountError
from iguana_fsm.handoff import (
    Decision,
    decide,
    inspect_root,
    kexec_cmdline,
    parse_kernel_action,
    read_kernel_action,
)
from iguana_fsm.mountlist import MountEntry, is_under, read
from iguana_fsm.mounts import Mount, where
from iguana_fsm.paths import Paths
from iguana_fsm.record import Ending, Handoff, MountedEntry
from iguana_fsm.stages.base import BootContext

GUESS_SOURCE = "DPS root guess"
_NOT_FILESYSTEMS = ("swap",)


@dataclass(frozen=True)
class Plan:
    """What to mount and where the list came from."""

    entries: list[MountEntry]
    source: str
    guessed: bool
    read_only: bool = False


def run(ctx: BootContext) -> str:
    """Mount the new root and return ``choose_switch_root``, ``choose_kexec`` or
    ``choose_reboot``; MountError (everything unmounted again) when it cannot."""
    paths, log = ctx.paths, ctx.log
    scope = DeviceScope.for_paths(paths)
    paths.newroot.mkdir(parents=True, exist_ok=True)
    leftovers = ctx.host.unmount_tree(paths.newroot, log)
    if leftovers:
        # A resumed boot re-enters here: start again from an empty new root.
        log.info("mount.leftovers_unmounted", count=len(leftovers))
    ctx.progress("Iguana: mounting the new root")
    if identity.read(paths.machine_id) is None:
        # prepare() belongs before the first container; settle the id now rather than never.
        log.warning("identity.late", why=f"{paths.machine_id} was not written before the jobs")
        identity.prepare(paths, log, scope)
    action_text = _kernel_action(ctx)
    plan, why = _plan(ctx, scope)
    if plan is None:
        return _no_root(ctx, why, action_text)
    can_mount = ctx.host.may_mount()
    mounts = _resolve(plan, scope, paths) if can_mount else []
    locked = [mount for mount in mounts if mount.fstype == "crypto_LUKS"]
    if locked:
        return _luks(ctx, plan, locked, action_text)
    _check_filesystems(mounts, plan.source)
    if can_mount:
        ctx.host.mount_all(mounts, paths.newroot, log, plan.source)
    else:
        log.warning("mount.skipped", why="sandbox mode without root: nothing is mounted")
    try:
        return _decide(ctx, plan, mounts, can_mount, action_text)
    except BaseException:
        ctx.host.unmount_tree(paths.newroot, log)
        raise


def _plan(ctx: BootContext, scope: DeviceScope) -> tuple[Plan | None, str]:
    """The mounts and how they were found, or None and why there is nothing to mount."""
    paths = ctx.paths
    entries = read(paths.mountlist)
    if entries is not None:
        return Plan(entries, str(paths.mountlist), guessed=False), "mountlist"
    guess = guess_root(scope)
    for note in guess.skipped:
        ctx.log.info("mount.guess_skipped", device=note)
    if guess.device is None:
        ctx.log.warning("mount.no_guess", why=f"no {paths.mountlist}; {guess.reason}")
        return None, guess.reason
    read_only = bool(guess.device.flags() & FLAG_READ_ONLY)
    ctx.log.warning(
        "mount.guessed",
        device=str(guess.device.node),
        why=f"no {paths.mountlist} was written; {guess.reason}",
        read_only=read_only,
    )
    entry = MountEntry(0, str(guess.device.node), "/", ())
    return Plan([entry], GUESS_SOURCE, guessed=True, read_only=read_only), guess.reason


def _resolve(plan: Plan, scope: DeviceScope, paths: Paths) -> list[Mount]:
    """Each entry's source: a device (waited for until its deadline), a directory or tmpfs."""
    started = time.monotonic()
    mounts: list[Mount] = []
    extra = ("ro",) if plan.read_only else ()
    for entry in plan.entries:
        at = where(plan.source, entry.line)
        if entry.is_tmpfs:
            mounts.append(Mount(entry, "tmpfs", "tmpfs", "tmpfs"))
        elif entry.tag is None and not entry.device.startswith("/dev/"):
            mounts.append(Mount(entry, str(_directory(entry.device, paths, scope, at)), "bind"))
        else:
            try:
                device = wait_for(
                    entry.device, scope, started + entry.device_timeout, since=started
                )
            except MountError as error:
                raise MountError(f"{at}: {error}") from None
            mounts.append(
                Mount(entry, str(device.node), "block", device.fstype, extra, dict(device.info))
            )
    return mounts


def _directory(device: str, paths: Paths, scope: DeviceScope, at: str) -> Path:
    """A directory to bind-mount; ``/iguana/...`` means the shared directory (as a container
    that wrote the line sees it), which differs from ``/iguana`` in sandbox mode."""
    path = Path(device)
    if is_under(device, "/iguana") and device != "/":
        path = paths.iguana / os.path.relpath(device, "/iguana")
    if not path.is_dir():
        raise MountError(f"{at}: {device} is neither a device under /dev nor a directory")
    if scope.top is not None and not is_under(os.path.realpath(path), str(scope.top)):
        raise MountError(f"{at}: {device}: not touched in sandbox mode ({scope.describe()})")
    return path


def _check_filesystems(mounts: list[Mount], source: str) -> None:
    for mount in mounts:
        if mount.kind != "block":
            continue
        at = where(source, mount.entry.line)
        if not mount.fstype:
            raise MountError(f"{at}: {mount.source} holds no file system that blkid knows")
        if mount.fstype in _NOT_FILESYSTEMS:
            raise MountError(f"{at}: {mount.source} holds {mount.fstype}, not a file system")


def _root_spec(mounts: list[Mount]) -> str | None:
    """How a kernel command line names the root (``root=``)."""
    for mount in mounts:
        if mount.entry.mountpoint == "/" and mount.kind == "block":
            if mount.info.get("UUID"):
                return f"UUID={mount.info['UUID']}"
            if mount.info.get("PART_ENTRY_UUID"):
                return f"PARTUUID={mount.info['PART_ENTRY_UUID']}"
            return mount.source
    return None


def _handoff(
    ctx: BootContext, decision: Decision, plan: Plan | None, action_text: str | None
) -> Handoff:
    """The decision with what the stage found: the kernels, the mountlist, when."""
    handoff = decision.as_handoff()
    handoff.running_kernel = ctx.host.release()
    handoff.kernel_action = action_text.strip()[:40] if action_text is not None else None
    handoff.decided_at = time.time()
    if plan is not None:
        handoff.mountlist = plan.source
        handoff.guessed_root = plan.guessed
    return handoff


def _decide(
    ctx: BootContext, plan: Plan, mounts: list[Mount], mounted: bool, action_text: str | None
) -> str:
    paths = ctx.paths
    machine_id = identity.install(paths, paths.newroot, ctx.log)
    decision = decide(inspect_root(paths.newroot, ctx.host.release(), action_text))
    handoff = _handoff(ctx, decision, plan, action_text)
    handoff.machine_id = machine_id
    handoff.mounts_skipped = not mounted
    if mounted:
        handoff.mounts = [
            MountedEntry(m.entry.line, m.entry.device, m.source, m.entry.mountpoint) for m in mounts
        ]
    if decision.action == Ending.KEXEC and decision.kernel is not None:
        handoff.cmdline, handoff.cmdline_source = kexec_cmdline(
            paths.newroot,
            decision.kernel,
            _root_spec(mounts),
            ctx.config.kexec_cmdline,
            ctx.host.kernel_cmdline(),
        )
    return _record(ctx, handoff)


def _record(ctx: BootContext, handoff: Handoff) -> str:
    """Write the decision into the checkpoint now, then name the trigger."""
    ctx.record.handoff = handoff
    ctx.record.warnings.extend(handoff.warnings)
    ctx.save()
    ctx.log.info("handoff.decided", action=str(handoff.action), reason=handoff.reason)
    ctx.progress(f"Iguana: {handoff.action.replace('_', '-')}: {handoff.reason}")
    return f"choose_{handoff.action}"


def _luks(ctx: BootContext, plan: Plan, locked: list[Mount], action_text: str | None) -> str:
    first = locked[0]
    crypt = crypt_module_present()
    reason = (
        f"{first.source} ({first.entry.device}, mountpoint {first.entry.mountpoint}) is "
        "LUKS-encrypted: Iguana does not unlock it; reboot so that the installed system's "
        "own initrd unlocks it"
    )
    handoff = _handoff(ctx, Decision(Ending.REBOOT, reason), plan, action_text)
    handoff.luks_devices = [mount.source for mount in locked]
    handoff.crypt_module = crypt
    ctx.log.warning("mount.luks", devices=handoff.luks_devices, crypt_module=crypt)
    return _record(ctx, handoff)


def _no_root(ctx: BootContext, reason: str, action_text: str | None) -> str:
    """No mountlist and nothing to guess: reboot only when kernelAction asks for it."""
    wanted, _ = parse_kernel_action(action_text)
    why = f"no {ctx.paths.mountlist} and no root partition to guess ({reason})"
    if wanted != "reboot":
        raise MountError(f"{why}: write a mountlist, or 'reboot' to {ctx.paths.kernel_action}")
    decision = Decision(Ending.REBOOT, f"{why}; kernelAction asks for reboot")
    return _record(ctx, _handoff(ctx, decision, None, action_text))


def _kernel_action(ctx: BootContext) -> str | None:
    """``/iguana/kernelAction``, read once for the whole stage; Refused (exit 7) when it is not a
    small regular file of /iguana."""
    return read_kernel_action(ctx.paths.kernel_action)
