"""``rd.iguana.report=DEVICE``: leave the checkpoint, log and workflow of a boot on a block
device before the machine reboots, kexecs or switches root, so that a failure is never lost with
the RAM. The device is named by path, ``LABEL=``, ``UUID=``, ``PARTUUID=`` or ``PARTLABEL=``; the
files go to ``/iguana-report/`` on it.

The device is mounted ``nosuid,nodev,noexec`` (and ``nosymfollow`` where the kernel has it), and
what it holds is not trusted: a link at ``iguana-report`` or at a file's name is never followed
out of the device, since the directory is resolved inside it and each file renamed into place.

A report that cannot be written is a warning in the log and the checkpoint, never a reason to
stop a boot: the boot's own outcome matters more than its record.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from iguana_fsm.devices import DeviceScope, wait_for
from iguana_fsm.errors import IguanaError, MountError
from iguana_fsm.handoff import copy_into
from iguana_fsm.stages.base import BootContext
from iguana_fsm.tools import run_tool

DIRECTORY = "iguana-report"
WAIT_SECONDS = 10.0
SAFE_OPTIONS = "rw,nosuid,nodev,noexec"


def _mount(node: str, mountpoint: Path, what: str) -> None:
    """Mount the report device: nothing on it is run, and (where the kernel and mount know
    ``nosymfollow``, Linux 5.10) no link on it is followed."""
    try:
        run_tool(
            ["mount", "-o", f"{SAFE_OPTIONS},nosymfollow", node, str(mountpoint)], what, MountError
        )
    except MountError:
        # an older kernel or mount refuses nosymfollow: the copy does not follow links anyway
        run_tool(["mount", "-o", SAFE_OPTIONS, node, str(mountpoint)], what, MountError)


def leave_report(ctx: BootContext) -> Path | None:
    """Copy the boot's record to the report device, if one is configured; the device used.
    Callers checkpoint first, so the report holds the latest record."""
    spec = ctx.config.report
    if not spec:
        return None
    paths = ctx.paths
    # the verbatim workflow holds env values in clear: only the redacted one leaves the machine
    files = [paths.state, paths.log, paths.workflow_redacted]
    mountpoint = paths.run / "report"
    try:
        device = wait_for(spec, DeviceScope.for_paths(paths), time.monotonic() + WAIT_SECONDS)
        mountpoint.mkdir(parents=True, exist_ok=True)
        _mount(str(device.node), mountpoint, f"report {spec}")
        try:
            copy_into(mountpoint, DIRECTORY, files, 0o644, None)
            os.sync()
        finally:
            run_tool(["umount", str(mountpoint)], f"report {spec}", MountError)
    except (IguanaError, OSError) as error:
        why = str(error)
        if isinstance(error, OSError):
            why = f"{error.filename or mountpoint}: {error.strerror}"
        ctx.record.warnings.append(f"report {spec}: not saved: {why}")
        ctx.save()
        ctx.log.warning("report.not_saved", device=spec, error=why)
        return None
    ctx.log.info("report.saved", device=str(device.node), spec=spec, directory=DIRECTORY)
    return device.node
