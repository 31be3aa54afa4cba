"""The machine-level actions of the endings: reboot, kexec, emergency shell.

The initrd host carries them out; the sandbox host only records them, so that a workflow can run
on a workstation without rebooting it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from iguana_fsm.errors import HandoffError


class Host(Protocol):
    """What the ending states ask of the machine."""

    def reboot(self, reason: str) -> None:
        """Reboot now (sync first)."""

    def kexec(self, kernel: Path, initrd: Path | None, cmdline: str) -> None:
        """Load the new kernel and execute it; raises HandoffError when loading fails."""

    def sleep(self, seconds: float) -> None:
        """Wait before an automatic reboot, so the console can be read."""


@dataclass
class SandboxHost:
    """Records every action instead of carrying it out."""

    actions: list[dict[str, Any]] = field(default_factory=list)

    def reboot(self, reason: str) -> None:
        """Record a reboot."""
        self.actions.append({"action": "reboot", "reason": reason})

    def kexec(self, kernel: Path, initrd: Path | None, cmdline: str) -> None:
        """Record a kexec."""
        self.actions.append(
            {"action": "kexec", "kernel": str(kernel), "initrd": str(initrd), "cmdline": cmdline}
        )

    def sleep(self, seconds: float) -> None:
        """Record the wait without waiting."""
        self.actions.append({"action": "sleep", "seconds": seconds})


Command = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv``, capturing its output; a missing program is exit code 127."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=300, check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess(list(argv), 127, "", f"{argv[0]}: not installed")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(argv), 124, "", f"{argv[0]}: timed out")


def _said(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or result.stdout or "").strip().replace("\n", "; ")
    return text or f"exit code {result.returncode}"


LINUX_REBOOT_CMD_RESTART = 0x01234567


def _reboot_syscall() -> int:
    """reboot(2) through libc, for an initrd whose ``reboot`` program is missing or refuses."""
    # Imported here: ctypes needs libffi, which an initrd need not carry for anything else.
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return int(libc.reboot(LINUX_REBOOT_CMD_RESTART))


@dataclass
class InitrdHost:
    """Carries the endings out on the machine: ``reboot -f`` and kexec-tools.

    ``run`` executes a command and ``reboot_syscall`` is the last resort; both can be replaced
    to test the sequence of commands without rebooting the machine that runs the test.
    """

    run: Command = run_command
    reboot_syscall: Callable[[], int] = _reboot_syscall
    settle_seconds: float = 30.0

    def reboot(self, reason: str) -> None:
        """Sync and reboot at once (no service manager involved); HandoffError if still up."""
        os.sync()
        result = self.run(["reboot", "-f"])
        if result.returncode != 0:
            self.reboot_syscall()
        time.sleep(self.settle_seconds)
        raise HandoffError(f"reboot -f did not reboot the machine: {_said(result)}")

    def kexec(self, kernel: Path, initrd: Path | None, cmdline: str) -> None:
        """Load ``kernel`` (kexec_file_load first: the only way under Secure Boot lockdown, then
        the classic kexec_load), sync and execute it; HandoffError with kexec's words."""
        load = ["-l", str(kernel), f"--command-line={cmdline}"]
        if initrd is not None:
            load.append(f"--initrd={initrd}")
        first = self.run(["kexec", "-s", *load])
        if first.returncode != 0:
            second = self.run(["kexec", *load])
            if second.returncode != 0:
                raise HandoffError(
                    f"kexec could not load {kernel}: {_said(first)} (kexec_file_load); "
                    f"{_said(second)} (kexec_load)"
                )
        os.sync()
        result = self.run(["kexec", "-e"])
        raise HandoffError(f"kexec -e returned instead of starting {kernel}: {_said(result)}")

    def sleep(self, seconds: float) -> None:
        """Wait, so the console can be read before an automatic reboot."""
        time.sleep(seconds)
