"""Everything the mount stage and the endings ask of the machine: mount and unmount, the
running kernel and its command line, sync, reboot, kexec, a pause.

The initrd host carries all of it out; the sandbox host mounts (as root only, under the
sandbox) but only records reboot and kexec, so that a workflow can run on a workstation without
rebooting it. Unit tests pass a host that records everything, so that the stages' decisions are
tested without privileges.
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
from iguana_fsm.mounts import Mount, is_mount_point, mount_all, unmount_tree


class Host(Protocol):
    """What the mount and ending states ask of the machine."""

    def may_mount(self) -> bool:
        """Whether mounts are carried out (the sandbox host: only as root)."""

    def release(self) -> str:
        """The running kernel's release (``uname -r``)."""

    def kernel_cmdline(self) -> str:
        """The running kernel's command line (empty when unreadable)."""

    def mount_all(self, mounts: Sequence[Mount], newroot: Path, log: Any, source: str) -> None:
        """Mount each under ``newroot``; on failure nothing stays mounted (MountError)."""

    def unmount_tree(self, root: Path, log: Any) -> list[Path]:
        """Unmount everything at or below ``root``; the paths unmounted."""

    def is_mount_point(self, path: Path) -> bool:
        """Whether something is mounted on ``path``."""

    def sync(self) -> None:
        """Flush file systems before the kernel is replaced."""

    def reboot(self, reason: str) -> None:
        """Reboot now (sync first)."""

    def kexec(self, kernel: Path, initrd: Path | None, cmdline: str) -> None:
        """Load the new kernel and execute it; raises HandoffError when loading fails."""

    def sleep(self, seconds: float) -> None:
        """Wait before an automatic reboot, so the console can be read."""


class MachineAccess:
    """The mounts, kernel facts and sync as the machine has them; both hosts use it."""

    def may_mount(self) -> bool:
        """Always, in an initrd."""
        return True

    def release(self) -> str:
        """``os.uname().release``."""
        return os.uname().release

    def kernel_cmdline(self) -> str:
        """``/proc/cmdline``."""
        try:
            return Path("/proc/cmdline").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def mount_all(self, mounts: Sequence[Mount], newroot: Path, log: Any, source: str) -> None:
        """``mountlist.mount_all``."""
        mount_all(mounts, newroot, log, source)

    def unmount_tree(self, root: Path, log: Any) -> list[Path]:
        """``mountlist.unmount_tree``."""
        return unmount_tree(root, log)

    def is_mount_point(self, path: Path) -> bool:
        """``mountlist.is_mount_point``."""
        return is_mount_point(path)

    def sync(self) -> None:
        """``os.sync()``."""
        os.sync()


@dataclass
class SandboxHost(MachineAccess):
    """Mounts under the sandbox when run as root; records reboot, kexec and pauses instead of
    carrying them out."""

    actions: list[dict[str, Any]] = field(default_factory=list)

    def may_mount(self) -> bool:
        """Only root can mount; without root the containers fill the new root directory."""
        return os.geteuid() == 0

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
class InitrdHost(MachineAccess):
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
