"""A host that touches nothing: it records mounts, unmounts, syncs, kexecs and reboots, and
answers the kernel facts it was given. For unit tests of the mount and ending stages' decisions;
the real mounts are proven in tests/integration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iguana_fsm.errors import HandoffError
from iguana_fsm.mounts import Mount


@dataclass
class FakeHost:
    """``mounting``: what may_mount answers; ``mounted``: paths is_mount_point says yes to."""

    mounting: bool = True
    running: str = "6.1.0-13-amd64"
    cmdline: str = "console=ttyS0,115200 root=/dev/vda1"
    kexec_error: str | None = None
    mounted: set[Path] = field(default_factory=set)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def may_mount(self) -> bool:
        return self.mounting

    def release(self) -> str:
        return self.running

    def kernel_cmdline(self) -> str:
        return self.cmdline

    def mount_all(self, mounts: Sequence[Mount], newroot: Path, log: Any, source: str) -> None:
        self.calls.append(("mount_all", [(m.kind, m.source, m.entry.mountpoint) for m in mounts]))
        self.mounted.add(newroot)

    def unmount_tree(self, root: Path, log: Any) -> list[Path]:
        self.calls.append(("unmount_tree", root))
        gone = sorted(path for path in self.mounted if path == root or root in path.parents)
        self.mounted.difference_update(gone)
        return gone

    def is_mount_point(self, path: Path) -> bool:
        return path in self.mounted

    def sync(self) -> None:
        self.calls.append(("sync", None))

    def reboot(self, reason: str) -> None:
        self.calls.append(("reboot", reason))

    def kexec(self, kernel: Path, initrd: Path | None, cmdline: str) -> None:
        self.calls.append(("kexec", (kernel.name, initrd.name if initrd else None, cmdline)))
        if self.kexec_error is not None:
            raise HandoffError(self.kexec_error)

    def sleep(self, seconds: float) -> None:
        self.calls.append(("sleep", seconds))

    def names(self) -> list[str]:
        """The calls' names, in order."""
        return [name for name, _ in self.calls]
