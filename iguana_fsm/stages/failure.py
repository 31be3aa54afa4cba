"""failed and rescue: make the failure impossible to miss, then hand the machine to a person
(debug: the emergency shell) or reboot after a delay."""

from __future__ import annotations

from typing import Any

from iguana_fsm.machine import END
from iguana_fsm.report_device import leave_report
from iguana_fsm.stages.base import BootContext

RULE = "=" * 72


def banner(record_error: dict[str, Any], state_file: str) -> str:
    """The text shown on the console when a boot fails."""
    lines = [RULE, "IGUANA BOOT FAILED", RULE]
    lines.append(f"state:   {record_error.get('state')}")
    job = record_error.get("job")
    if job:
        code = record_error.get("exit_code")
        lines.append(f"job:     {job}" + (f" (exit code {code})" if code is not None else ""))
    problems = record_error.get("problems") or []
    if len(problems) > 1:
        lines.append(f"reason:  the workflow has {len(problems)} problems:")
        lines.extend(f"  {problem}" for problem in problems)
    else:
        lines.append(f"reason:  {record_error.get('message')}")
    tail = record_error.get("tail") or []
    if tail:
        lines.append("last output:")
        lines.extend(f"  | {line}" for line in tail)
    lines.append(f"checkpoint: {state_file}")
    lines.append("`iguana status` shows this again; fix the cause, then `iguana resume`.")
    lines.append(RULE)
    return "\n".join(lines)


def failed(ctx: BootContext) -> str:
    """Print the banner from the error the runner recorded, log it, tell the progress channel."""
    error = ctx.record.error or {"state": ctx.record.failed_state, "message": "unknown failure"}
    ctx.console.write(banner(error, str(ctx.paths.state)) + "\n")
    ctx.console.flush()
    ctx.log.error("boot.failed", **{k: v for k, v in error.items() if k != "tail"})
    ctx.progress(f"Iguana failed in {error.get('state')}: {error.get('message')}")
    return "rescue"


def rescue(ctx: BootContext) -> str:
    """Debug: leave the machine to the emergency shell (the initrd glue opens it when
    ``iguana run`` exits non-zero). Otherwise reboot after ``rd.iguana.reboot_delay``."""
    if ctx.config.debug:
        ctx.record.details["rescue"] = {"action": "emergency-shell"}
        ctx.save()
        leave_report(ctx)
        ctx.log.warning("rescue.shell", hint="iguana status; fix; iguana resume")
        return END
    delay = ctx.config.reboot_delay
    ctx.record.details["rescue"] = {"action": "reboot", "delay": delay}
    ctx.save()
    leave_report(ctx)
    ctx.log.warning("rescue.reboot", seconds=delay)
    ctx.progress(f"Rebooting in {delay:g} s")
    ctx.host.sleep(delay)
    ctx.host.reboot("boot failed")
    return END
