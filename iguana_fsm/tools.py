"""Running an external tool (mount, blkid, gpgv, skopeo ...) to its end, with one convention.

``run_tool(argv, what, error)`` raises the caller's ``error`` class, its message ``what: ...``:
when the tool is not installed, when it does not finish within ``timeout`` seconds (the error's
``details`` then hold ``timed_out=True``), and, with ``check`` (the default), when it exits
non-zero, quoting the last line the tool wrote to stderr (or stdout). Without ``check`` the
caller reads the exit code and output itself. Output is text; bytes that are not UTF-8 are
replaced, never a reason to fail.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from iguana_fsm.errors import IguanaError

DEFAULT_TIMEOUT = 120.0
"""Seconds a tool may take unless the caller says otherwise."""


def last_line(text: str) -> str:
    """The last non-blank line of ``text``, stripped; empty when there is none."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def said(result: subprocess.CompletedProcess[str]) -> str:
    """What a finished tool said: its last stderr line, else its last stdout line, else its
    exit code."""
    return last_line(result.stderr) or last_line(result.stdout) or f"exit code {result.returncode}"


def run_tool(
    argv: Sequence[str | Path],
    what: str,
    error: type[IguanaError],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with its output captured; see the module's convention."""
    command = [str(part) for part in argv]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            env=dict(env) if env is not None else None,
            input=input,
            check=False,
        )
    except FileNotFoundError:
        raise error(f"{what}: {command[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise error(
            f"{what}: {command[0]} did not finish within {timeout:g} s", timed_out=True
        ) from None
    if check and result.returncode != 0:
        raise error(f"{what}: {said(result)}")
    return result
