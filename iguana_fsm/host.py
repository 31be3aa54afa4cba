"""The machine-level actions of the endings: reboot, kexec, emergency shell.

The initrd host carries them out; the sandbox host only records them, so that a workflow can run
on a workstation without rebooting it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


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
