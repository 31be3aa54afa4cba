"""``rd.iguana.report=DEVICE``: leave the checkpoint, log and workflow of a boot on a block
device before the machine reboots, kexecs or switches root, so that a failure is never lost with
the RAM. The device is named by path, ``LABEL=``, ``UUID=``, ``PARTUUID=`` or ``PARTLABEL=``; the
files go to ``/iguana-report/`` on it.

A report that cannot be written is a warning in the log and the checkpoint, never a reason to
stop a boot: the boot's own outcome matters more than its record.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from iguana_fsm.devices import DeviceScope, wait_for
from iguana_fsm.errors import IguanaError
from iguana_fsm.mountlist import run_tool
from iguana_fsm.stages.base import BootContext

DIRECTORY = "iguana-report"
WAIT_SECONDS = 10.0


def leave_report(ctx: BootContext) -> Path | None:
    """Copy the boot's record to the report device, if one is configured; the device used.
    Callers checkpoint first, so the report holds the latest record."""
    spec = ctx.config.report
    if not spec:
        return None
    paths = ctx.paths
    files = [paths.state, paths.log, paths.workflow_copy]
    mountpoint = paths.run / "report"
    try:
        device = wait_for(spec, DeviceScope.for_paths(paths), time.monotonic() + WAIT_SECONDS)
        mountpoint.mkdir(parents=True, exist_ok=True)
        run_tool(["mount", "-o", "rw", str(device.node), str(mountpoint)], f"report {spec}")
        try:
            target = mountpoint / DIRECTORY
            target.mkdir(exist_ok=True)
            for source in files:
                if source.exists():
                    shutil.copyfile(source, target / source.name)
            os.sync()
        finally:
            run_tool(["umount", str(mountpoint)], f"report {spec}")
    except (IguanaError, OSError) as error:
        warning = f"report {spec}: not saved: {error}"
        ctx.record.warnings.append(warning)
        ctx.save()
        ctx.log.warning("report.not_saved", device=spec, error=str(error))
        return None
    ctx.log.info("report.saved", device=str(device.node), spec=spec, directory=DIRECTORY)
    return device.node
