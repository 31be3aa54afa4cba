"""The failure banner: the text the console shows when a boot fails, and ``iguana status``
shows again. A module of its own so that ``status`` reads it without loading the stages."""

from __future__ import annotations

from iguana_fsm.record import BootError

RULE = "=" * 72


def banner(error: BootError, state_file: str) -> str:
    """The text shown on the console when a boot fails."""
    lines = [RULE, "IGUANA BOOT FAILED", RULE]
    lines.append(f"state:   {error.state}")
    if error.job:
        code = error.exit_code
        lines.append(f"job:     {error.job}" + (f" (exit code {code})" if code is not None else ""))
    problems = error.problems
    if len(problems) > 1:
        lines.append(f"reason:  the workflow has {len(problems)} problems:")
        lines.extend(f"  {problem}" for problem in problems)
    else:
        lines.append(f"reason:  {error.message}")
    tail = error.tail
    if tail:
        lines.append("last output:")
        lines.extend(f"  | {line}" for line in tail)
    lines.append(f"checkpoint: {state_file}")
    lines.append("`iguana status` shows this again; fix the cause, then `iguana resume`.")
    lines.append(RULE)
    return "\n".join(lines)
