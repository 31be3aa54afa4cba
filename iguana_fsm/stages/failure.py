"""failed and rescue: make the failure impossible to miss, then hand the machine to a person
(debug: the emergency shell) or reboot after a delay."""

from __future__ import annotations

from iguana_fsm.errors import ExitCode
from iguana_fsm.machine import END
from iguana_fsm.record import BootError, Rescue, RescueAction
from iguana_fsm.report_device import leave_report
from iguana_fsm.stages.base import BootContext


def failed(ctx: BootContext) -> str:
    """Print the banner from the error the runner recorded, log it, tell the progress channel."""
    error = ctx.record.error or BootError(
        ctx.record.failed_state, "unknown failure", ExitCode.INTERNAL
    )
    # the console shows this event as the failure banner, once, in every mode
    ctx.log.error(
        "boot.failed",
        state=error.state,
        message=error.message,
        code=error.code,
        job=error.job,
        exit_code=error.exit_code,
        tail=error.tail,
        problems=error.problems,
        checkpoint=str(ctx.paths.state),
    )
    ctx.progress(f"Iguana failed in {error.state}: {error.message}")
    return "rescue"


def rescue(ctx: BootContext) -> str:
    """Debug: leave the machine to the emergency shell (the initrd glue opens it when
    ``iguana run`` exits non-zero). Otherwise reboot after ``rd.iguana.reboot_delay``."""
    if ctx.config.debug:
        ctx.record.rescue = Rescue(RescueAction.EMERGENCY_SHELL)
        ctx.save()
        leave_report(ctx)
        ctx.log.warning("rescue.shell", hint="iguana status; fix; iguana resume")
        return END
    delay = ctx.config.reboot_delay
    ctx.record.rescue = Rescue(RescueAction.REBOOT, delay)
    ctx.save()
    leave_report(ctx)
    ctx.log.warning("rescue.reboot", seconds=delay)
    ctx.progress(f"Rebooting in {delay:g} s")
    ctx.host.sleep(delay)
    ctx.host.reboot("boot failed")
    return END
