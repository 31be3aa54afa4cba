"""How the boot ends: switch-root, kexec or reboot, decided from the mounted new root.

``decide`` is a pure function of ``RootFacts`` (the running kernel, the kernel releases the new
root has modules for, the files in its ``/boot`` and ``/iguana/kernelAction``), so the whole
policy is one table test. The rule, in order:

1. switch-root when the new root has modules for the running kernel (``lib/modules/RELEASE`` or
   ``usr/lib/modules/RELEASE`` is a directory): the running kernel can serve it, whatever
   ``kernelAction`` says, since that file only chooses what to do when the kernels differ;
2. otherwise reboot when ``kernelAction`` says ``reboot``;
3. otherwise kexec when ``/boot`` has a kernel with an initrd of the same release (releases the
   new root has modules for first, then the highest version);
4. otherwise reboot.

A ``kernelAction`` other than ``kexec`` or ``reboot`` is ignored with a warning in the reason.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from iguana_fsm import contract_files
from iguana_fsm.atomic import remove_stale_temps, write_atomic
from iguana_fsm.errors import HandoffError, MountError
from iguana_fsm.mountlist import is_under
from iguana_fsm.mounts import resolve_in_root
from iguana_fsm.record import Ending, Handoff

ACTIONS = ("switch_root", "kexec", "reboot")
KERNEL_PREFIXES = ("vmlinuz-", "vmlinux-", "bzImage-", "zImage-", "Image-", "kernel-")
INITRD_PATTERNS = ("initrd.img-{}", "initrd-{}", "initramfs-{}.img", "initrd-{}.img")
_SKIP_SUFFIXES = (".sig", ".hmac", ".old", ".bak", ".dpkg-old", ".rpmsave")
MODULE_DIRS = ("lib/modules", "usr/lib/modules")
LOG_DIR = "var/log/iguana"
_WORD = re.compile(r"[a-z0-9_-]{1,20}")


@dataclass(frozen=True)
class RootFacts:
    """What the ending depends on, read from the mounted new root."""

    running: str
    module_releases: frozenset[str]
    boot_files: frozenset[str]
    kernel_action: str | None = None
    """The content of ``/iguana/kernelAction`` (None when the file does not exist)."""


@dataclass(frozen=True)
class Decision:
    """The ending and why. ``kernel``/``initrd`` are paths inside the new root (kexec only)."""

    action: Ending
    reason: str
    release: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    warnings: tuple[str, ...] = ()

    def as_handoff(self) -> Handoff:
        """The form kept in ``record.handoff``; the mount stage adds what it found."""
        return Handoff(
            action=self.action,
            reason=self.reason,
            release=self.release,
            kernel=self.kernel,
            initrd=self.initrd,
            warnings=list(self.warnings),
        )


def version_key(release: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that orders ``6.1.0-13-amd64`` after ``6.1.0-9-amd64``."""
    return tuple(
        (1, int(part)) if part.isdigit() else (0, part)
        for part in re.findall(r"\d+|[^\d]+", release)
    )


def boot_pairs(boot_files: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Release -> (kernel file, initrd file) for every release ``/boot`` has both of."""
    names = set(boot_files)
    pairs: dict[str, tuple[str, str]] = {}
    for name in sorted(names):
        if name.endswith(_SKIP_SUFFIXES):
            continue
        prefix = next((p for p in KERNEL_PREFIXES if name.startswith(p)), None)
        if prefix is None or len(name) == len(prefix):
            continue
        release = name[len(prefix) :]
        initrd = next(
            (p.format(release) for p in INITRD_PATTERNS if p.format(release) in names), None
        )
        if initrd is not None and release not in pairs:
            pairs[release] = (name, initrd)
    return pairs


def parse_kernel_action(text: str | None) -> tuple[str | None, str | None]:
    """``(action, warning)``: ``kexec``, ``reboot`` or None, and a warning for anything else."""
    if text is None:
        return None, None
    word = text.strip().lower()
    if word in ("kexec", "reboot"):
        return word, None
    if not word:
        return None, "kernelAction is empty and was ignored"
    # a plain short word is shown; anything else is the container's, and not for the log
    shown = repr(word) if _WORD.fullmatch(word) else f"({len(word)} characters)"
    return None, f"kernelAction {shown} is neither kexec nor reboot and was ignored"


def decide(facts: RootFacts) -> Decision:
    """The ending for ``facts``; see the module docstring for the rule."""
    wanted, warning = parse_kernel_action(facts.kernel_action)
    warnings = (warning,) if warning else ()
    suffix = f"; {warning}" if warning else ""
    running = facts.running
    if running in facts.module_releases:
        return Decision(
            Ending.SWITCH_ROOT,
            f"the new root has modules for the running kernel {running}{suffix}",
            release=running,
            warnings=warnings,
        )
    others = ", ".join(sorted(facts.module_releases, key=version_key)) or "none"
    mismatch = f"the new root has no modules for the running kernel {running} (it has: {others})"
    if wanted == "reboot":
        return Decision(
            Ending.REBOOT, f"{mismatch} and kernelAction asks for reboot", warnings=warnings
        )
    pairs = boot_pairs(facts.boot_files)
    if not pairs:
        asked = "kernelAction asks for kexec but " if wanted == "kexec" else ""
        return Decision(
            Ending.REBOOT,
            f"{mismatch}; {asked}/boot has no kernel with a matching initrd{suffix}",
            warnings=warnings,
        )
    release = max(pairs, key=lambda rel: (rel in facts.module_releases, version_key(rel)))
    kernel, initrd = pairs[release]
    how = "kernelAction asks for kexec" if wanted == "kexec" else "kexec is the default"
    return Decision(
        Ending.KEXEC,
        f"{mismatch}; {how}: /boot has kernel {release} with its initrd{suffix}",
        release=release,
        kernel=f"/boot/{kernel}",
        initrd=f"/boot/{initrd}",
        warnings=warnings,
    )


def read_kernel_action(path: Path) -> str | None:
    """The text of ``/iguana/kernelAction``, None when it does not exist; Refused (exit 7) when
    it is not a small regular file of ``/iguana`` (see ``contract_files``)."""
    return contract_files.read_text(path, contract_files.KERNEL_ACTION)


def inspect_root(newroot: Path, running: str, kernel_action: str | None) -> RootFacts:
    """The RootFacts of the new root mounted at ``newroot`` (paths resolved inside it), with
    ``kernel_action`` as ``read_kernel_action`` read it."""
    releases: set[str] = set()
    for relative in MODULE_DIRS:
        directory = resolve_in_root(newroot, relative)
        if directory.is_dir():
            releases.update(item.name for item in directory.iterdir() if item.is_dir())
    boot = resolve_in_root(newroot, "boot")
    boot_files: set[str] = set()
    if boot.is_dir():
        boot_files = {
            item.name
            for item in boot.iterdir()
            if resolve_in_root(newroot, f"boot/{item.name}").is_file()
        }
    return RootFacts(running, frozenset(releases), frozenset(boot_files), kernel_action)


# ---- kexec command line ---------------------------------------------------------------------

_GRUB_LINUX = re.compile(r"^\s*linux(?:efi|16)?\s+(\S+)(.*)$")
GRUB_CONFIGS = ("boot/grub2/grub.cfg", "boot/grub/grub.cfg")


def kexec_cmdline(
    newroot: Path,
    kernel: str,
    root_spec: str | None,
    override: str | None,
    running_cmdline: str,
) -> tuple[str, str]:
    """``(command line, where it came from)`` for kexec-ing ``kernel`` of the new root:
    ``rd.iguana.kexec_cmdline``, else ``/etc/kernel/cmdline``, else the grub.cfg entry that
    boots that kernel, else ``root=ROOT`` plus the running ``console=`` words."""
    if override:
        return override, "rd.iguana.kexec_cmdline"
    etc = resolve_in_root(newroot, "etc/kernel/cmdline")
    if etc.is_file():
        text = " ".join(etc.read_text(encoding="utf-8", errors="replace").split())
        if text:
            return text, "/etc/kernel/cmdline"
    name = Path(kernel).name
    for config in GRUB_CONFIGS:
        path = resolve_in_root(newroot, config)
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _GRUB_LINUX.match(line)
            if match and Path(match.group(1)).name == name:
                # Unexpanded grub variables mean nothing to the kernel.
                words = [word for word in match.group(2).split() if "$" not in word]
                words = [word for word in words if not word.startswith("BOOT_IMAGE=")]
                return " ".join(words), f"/{config}"
    words = [f"root={root_spec}"] if root_spec else []
    words += [word for word in running_cmdline.split() if word.startswith("console=")]
    return " ".join(words), "composed"


# ---- the boot's own record, left in the installed system ------------------------------------


def copy_into(
    root: Path, relative: str, files: Iterable[Path], mode: int, dir_mode: int | None
) -> list[Path]:
    """Copy ``files`` into the directory ``relative`` of the file system at ``root``; the copies.
    The directory is resolved inside ``root`` (links followed as if ``root`` were ``/``) and
    refused when it still leads out; each copy is renamed into place (``write_atomic``), so a
    link planted at its name is replaced, never written through. A missing source is skipped.
    OSError and MountError propagate; ``dir_mode`` None leaves the directory's mode alone."""
    target = resolve_in_root(root, relative)
    if not is_under(os.path.realpath(target), os.path.realpath(root)):
        raise OSError(errno.EXDEV, "leads out of its file system", str(target))
    target.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or not target.is_dir():
        raise OSError(errno.ENOTDIR, "not a directory", str(target))
    if dir_mode is not None:
        target.chmod(dir_mode)
    copies: list[Path] = []
    files = list(files)
    # what a copy killed before its rename left (a boot resumed after a kill copies again)
    remove_stale_temps(target, [source.name for source in files])
    for source in files:
        if not source.is_file():
            continue
        copy = target / source.name
        write_atomic(copy, source.read_bytes(), mode)
        copies.append(copy)
    return copies


def copy_boot_record(newroot: Path, files: Iterable[Path]) -> list[Path]:
    """Copy ``files`` (checkpoint, log) to ``/var/log/iguana/`` of the new root, root-only; the
    copies. A missing source is skipped; a failed copy raises HandoffError naming the file."""
    try:
        return copy_into(newroot, LOG_DIR, files, 0o600, 0o700)
    except MountError as error:
        raise HandoffError(f"{newroot}/{LOG_DIR}: {error}") from None
    except OSError as error:
        where = error.filename or f"{newroot}/{LOG_DIR}"
        raise HandoffError(
            f"{where}: cannot copy the boot's checkpoint and log: {error.strerror}"
        ) from None


@dataclass
class Staged:
    """Kernel and initrd copied out of the new root, so that it can be unmounted before exec."""

    kernel: Path
    initrd: Path | None
    files: list[Path] = field(default_factory=list)

    def remove(self) -> None:
        """Delete the copies."""
        for path in self.files:
            path.unlink(missing_ok=True)


def stage_kernel(newroot: Path, kernel: str, initrd: str | None, into: Path) -> Staged:
    """Copy the new root's ``kernel`` and ``initrd`` into ``into`` (RAM in an initrd)."""
    into.mkdir(parents=True, exist_ok=True)
    copies: list[Path] = []
    try:
        for relative in (kernel, initrd):
            if relative is None:
                continue
            source = resolve_in_root(newroot, relative)
            copy = into / Path(relative).name
            shutil.copyfile(source, copy)
            copies.append(copy)
    except OSError as error:
        for copy in copies:
            copy.unlink(missing_ok=True)
        raise HandoffError(f"{error.filename}: cannot copy for kexec: {error.strerror}") from None
    return Staged(copies[0], copies[1] if initrd is not None else None, copies)
