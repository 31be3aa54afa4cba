"""The mount toolbox: mount a checked mountlist under the new root, find and unmount what is
mounted below a directory, and look paths up inside a root as if it were ``/``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from iguana_fsm.errors import MountError
from iguana_fsm.mountlist import MountEntry, is_under, unescape
from iguana_fsm.tools import run_tool

MAX_SYMLINKS = 40
"""Symbolic links followed in one lookup before giving up (the kernel's limit)."""


def resolve_in_root(root: Path, path: str) -> Path:
    """``path`` looked up inside ``root`` as if ``root`` were ``/``: symlinks are followed, an
    absolute link target starts again at ``root`` and ``..`` stops at it. Missing components are
    kept as they are, so the result may name something that does not exist yet."""
    parts = list(PurePosixPath("/", path).parts[1:])
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            links += 1
            if links > MAX_SYMLINKS:
                raise MountError(f"{root}{path}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = list(PurePosixPath(target).parts) + parts
            if parts and parts[0] == "/":
                parts.pop(0)
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


@dataclass(frozen=True)
class Mount:
    """A line ready to be mounted: its source resolved (device node, directory or ``tmpfs``)."""

    entry: MountEntry
    source: str
    kind: str
    """``block``, ``bind`` or ``tmpfs``."""
    fstype: str | None = None
    extra_options: tuple[str, ...] = ()
    info: dict[str, str] = field(default_factory=dict)
    """What blkid said about a block device (UUID, TYPE, PART_ENTRY_UUID ...)."""

    @property
    def options(self) -> tuple[str, ...]:
        """Options for mount: the line's, plus what Iguana adds (e.g. ``ro`` for a DPS flag)."""
        own = self.entry.mount_options
        return own + tuple(option for option in self.extra_options if option not in own)

    def argv(self, target: Path) -> list[str]:
        """The mount(8) command that mounts this at ``target``."""
        options = ",".join(self.options)
        argv = ["mount"]
        if self.kind == "bind":
            argv.append("--bind")
        else:
            argv += ["-t", self.fstype or self.kind]
        if options:
            argv += ["-o", options]
        return [*argv, "--", self.source, str(target)]


def where(source: str, line: int) -> str:
    """``SOURCE:LINE`` for a line of a file, ``SOURCE`` for an entry Iguana made itself."""
    return f"{source}:{line}" if line else source


def mount_all(mounts: Iterable[Mount], newroot: Path, log: Any, source: str) -> list[Path]:
    """Mount each in order under ``newroot``, creating missing mountpoints; on any failure
    unmount what was mounted, in reverse, and raise MountError naming the line of ``source``."""
    done: list[Path] = []
    try:
        for mount in mounts:
            at = where(source, mount.entry.line)
            target = _target(newroot, mount.entry, at)
            run_tool(
                mount.argv(target),
                f"{at}: mount {mount.entry.device} on {mount.entry.mountpoint}",
                MountError,
            )
            done.append(target)
            log.info(
                "mount.mounted",
                line=mount.entry.line,
                device=mount.entry.device,
                source=mount.source,
                mountpoint=mount.entry.mountpoint,
                options=",".join(mount.options),
            )
    except BaseException:
        for target in reversed(done):
            _unmount(target, log)
        raise
    return done


def _target(newroot: Path, entry: MountEntry, at: str) -> Path:
    """The directory to mount on, made when missing; never outside ``newroot``."""
    target = resolve_in_root(newroot, entry.mountpoint)
    real_root = os.path.realpath(newroot)
    if not is_under(os.path.realpath(target), real_root):
        raise MountError(f"{at}: mountpoint {entry.mountpoint} leads out of the new root")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MountError(
            f"{at}: cannot create mountpoint {entry.mountpoint}: {error.strerror}"
        ) from None
    if not target.is_dir():
        raise MountError(f"{at}: mountpoint {entry.mountpoint} is not a directory")
    return target


def mounted_under(root: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Path]:
    """Mount points at or below ``root``, in the order they were mounted."""
    real = os.path.realpath(root)
    found: list[Path] = []
    for line in mountinfo.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = unescape(fields[4])
        if point == real or point.startswith(real.rstrip("/") + "/"):
            found.append(Path(point))
    return found


def is_mount_point(path: Path) -> bool:
    """Whether something is mounted on ``path`` (also a bind mount from the same file system,
    which ``os.path.ismount`` cannot see)."""
    real = Path(os.path.realpath(path))
    return real in mounted_under(real)


UNMOUNT_PASSES = 5


def unmount_tree(root: Path, log: Any) -> list[Path]:
    """Unmount everything at or below ``root``, children first; the paths unmounted.

    A few passes, not one: a mount that a process still finishing adds meanwhile (podman's
    clean-up of a container that just failed) shows up only after the first pass.
    """
    unmounted: list[Path] = []
    for attempt in range(UNMOUNT_PASSES):
        points = mounted_under(root)
        if not points:
            return unmounted
        if attempt:
            time.sleep(0.1 * attempt)
        for point in reversed(points):
            _unmount(point, log)
            unmounted.append(point)
    left = mounted_under(root)
    if left:
        raise MountError(f"{left[-1]}: still mounted after unmounting {root}")
    return unmounted


def _unmount(target: Path, log: Any) -> None:
    result = run_tool(["umount", str(target)], f"unmount {target}", MountError, check=False)
    if result.returncode == 0:
        log.info("mount.unmounted", target=str(target))
        return
    # Busy (a shell cd'ed there): detach it so nothing stays visible, and say so.
    lazy = run_tool(["umount", "-l", str(target)], f"unmount {target}", MountError, check=False)
    log.warning(
        "mount.unmount_lazy",
        target=str(target),
        error=result.stderr.strip(),
        lazy_ok=lazy.returncode == 0,
    )
