"""Block devices: find them by path or tag (UUID=, LABEL=, ...), wait for them, and find the
root partition of the Discoverable Partitions Specification (DPS).

Everything is read from the device itself with ``blkid -p`` and from ``/sys``, never from the
``/dev/disk/by-*`` links: those are made by udev, which may be late, busy or absent (a
non-systemd initrd, a test machine), while the kernel's own device nodes are always there.

A DeviceScope limits which devices Iguana may touch. In an initrd that is every device; in
``--sandbox`` mode it is only loop devices whose backing file lies under the sandbox directory
(and partitions and device-mapper volumes on them), so that a workstation's own disks are never
probed for a guess nor mounted.
"""

from __future__ import annotations

import os
import platform
import re
import stat
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from iguana_fsm.errors import MountError
from iguana_fsm.paths import Paths
from iguana_fsm.tools import run_tool

SYS_BLOCK = Path("/sys/class/block")
POLL_SECONDS = 0.2

ROOT_TYPES: dict[str, str] = {
    "alpha": "6523f8ae-3eb1-4e2a-a05a-18b695ae656f",
    "arc": "d27f46ed-2919-4cb8-bd25-9531f3c16534",
    "arm": "69dad710-2ce4-4e3c-b16c-21a1d49abed3",
    "arm64": "b921b045-1df0-41c3-af44-4c6f280d3fae",
    "ia64": "993d8d3d-f80e-4225-855a-9daf8ed7ea97",
    "loongarch64": "77055800-792c-4f94-b39a-98c91b762bb6",
    "m68k": "0cf191c8-3b54-433a-b715-68c6fa4086de",
    "mips": "e9434544-6e2c-47cc-bae2-12d6deafb44c",
    "mips64": "d113af76-80ef-41b4-bdb6-0cff4d3d4a25",
    "mips-le": "37c58c8a-d913-4156-a25f-48b1b64e07f0",
    "mips64-le": "700bda43-7a34-4507-b179-eeb93d7a7ca3",
    "parisc": "1aacdb3b-5444-4138-bd9e-e5c2239b2346",
    "ppc": "1de3f1ef-fa98-47b5-8dcd-4a860a654d78",
    "ppc64": "912ade1d-a839-4913-8964-a10eee08fbd2",
    "ppc64-le": "c31c45e6-3f39-412e-80fb-4809c4980599",
    "riscv32": "60d5a7fe-8e7d-435c-b714-3dd8162144e1",
    "riscv64": "72ec70a6-cf74-40e6-bd49-4bda08e8f224",
    "s390": "08a7acea-624c-4a20-91e8-6e0fa67d23f9",
    "s390x": "5eead9a9-fe09-4a1e-a1d7-520d00531306",
    "sh4": "7b8f86b1-397a-4e1c-9eb0-850983baedc4",
    "sparc64": "f7b4d167-1e51-42a9-8151-ec96c2e99478",
    "tilegx": "c50cdd70-3862-4cc3-90e1-809a8c93ee2c",
    "x86": "44479540-f297-41b2-9af7-d131d5f0458a",
    "x86-64": "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
}
"""DPS root partition type GUIDs by the specification's architecture name: every architecture
the specification lists (systemd's ``systemd-id128 show`` names them ``root-ARCH``)."""

_MACHINES = {
    "alpha": "alpha",
    "arc": "arc",
    "aarch64": "arm64",
    "arm64": "arm64",
    "ia64": "ia64",
    "loongarch64": "loongarch64",
    "m68k": "m68k",
    "parisc": "parisc",
    "parisc64": "parisc",
    "ppc": "ppc",
    "ppc64": "ppc64",
    "ppc64le": "ppc64-le",
    "riscv32": "riscv32",
    "riscv64": "riscv64",
    "s390": "s390",
    "s390x": "s390x",
    "sh4": "sh4",
    "sparc64": "sparc64",
    "tilegx": "tilegx",
    "x86_64": "x86-64",
    "amd64": "x86-64",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
}
"""``uname -m`` names to DPS names (``armv*`` is arm; MIPS also needs the byte order)."""

IGNORED_LABELS = frozenset({"_empty"})
"""Partition labels that mark a partition as a placeholder, never a candidate: systemd's
discovery always ignores ``_empty`` (systemd.image-filter(7)), and systemd-repart writes it."""

FLAG_READ_ONLY = 1 << 60
FLAG_NO_AUTO = 1 << 63
"""DPS partition attribute bits: mount read-only; never pick automatically."""

LUKS = "crypto_LUKS"


def dps_architecture(machine: str | None = None, byteorder: str = sys.byteorder) -> str | None:
    """The DPS architecture name of ``machine`` (default: the running one), None if unknown.

    ``uname -m`` says ``mips``/``mips64`` for both byte orders; ``byteorder`` tells them apart.
    """
    name = machine or platform.machine()
    if name.startswith("armv"):
        return "arm"
    if name in ("mips", "mips64", "mipsel", "mips64el"):
        base = name.removesuffix("el")
        little = name.endswith("el") or byteorder == "little"
        return f"{base}-le" if little else base
    return _MACHINES.get(name)


def root_type(machine: str | None = None) -> str | None:
    """The DPS root partition type GUID of ``machine`` (default: the running one)."""
    arch = dps_architecture(machine)
    return ROOT_TYPES.get(arch) if arch else None


@dataclass(frozen=True)
class BlockDevice:
    """A device node and what ``blkid -p`` found on it."""

    name: str
    node: Path
    info: Mapping[str, str]

    @property
    def fstype(self) -> str | None:
        """The file system (or LUKS, swap ...) blkid found, None when it found nothing."""
        return self.info.get("TYPE")

    @property
    def is_luks(self) -> bool:
        """Whether the device holds a LUKS container rather than a file system."""
        return self.fstype == LUKS

    def flags(self) -> int:
        """GPT partition attribute bits (0 when not a GPT partition)."""
        try:
            return int(self.info.get("PART_ENTRY_FLAGS", "0"), 16)
        except ValueError:
            return 0


@dataclass(frozen=True)
class DeviceScope:
    """Which block devices may be probed and mounted: all (``top`` None) or, in sandbox mode,
    only loop devices backed by a file under ``top`` and what is built on them."""

    top: Path | None = None
    sys_block: Path = SYS_BLOCK

    @classmethod
    def for_paths(cls, paths: Paths) -> DeviceScope:
        """All devices in an initrd; the sandbox directory (parent of its /iguana) otherwise."""
        if paths.sandbox:
            return cls(top=Path(os.path.realpath(paths.iguana.parent)))
        return cls()

    def describe(self) -> str:
        """How the scope reads in a message."""
        if self.top is None:
            return "all block devices"
        return f"sandbox: only loop devices backed by files under {self.top}"

    def allows(self, name: str, _depth: int = 0) -> bool:
        """Whether the kernel block device ``name`` (e.g. ``loop3p1``) is in the scope."""
        if self.top is None:
            return True
        if _depth > 8:
            return False
        entry = self.sys_block / name
        parent = partition_parent(name, self.sys_block)
        if parent is not None:
            return self.allows(parent, _depth + 1)
        backing = entry / "loop" / "backing_file"
        if backing.exists():
            try:
                path = backing.read_text(encoding="utf-8").strip()
            except OSError:
                return False
            real = os.path.realpath(path)
            return real.startswith(str(self.top).rstrip("/") + "/")
        slaves = entry / "slaves"
        if slaves.is_dir():
            below = sorted(item.name for item in slaves.iterdir())
            return bool(below) and all(self.allows(item, _depth + 1) for item in below)
        return False


def partition_parent(name: str, sys_block: Path = SYS_BLOCK) -> str | None:
    """The disk a partition belongs to (``loop3`` for ``loop3p1``), None for a whole device."""
    entry = sys_block / name
    if not (entry / "partition").exists():
        return None
    return Path(os.path.realpath(entry)).parent.name


def kernel_name(node: Path) -> str | None:
    """The kernel's name of the block device behind ``node`` (follows /dev/mapper links)."""
    try:
        info = os.stat(node)
    except OSError:
        return None
    if not stat.S_ISBLK(info.st_mode):
        return None
    link = Path(f"/sys/dev/block/{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}")
    try:
        return Path(os.path.realpath(link)).name
    except OSError:
        return None


def block_devices(scope: DeviceScope) -> list[str]:
    """Kernel names of the block devices in ``scope`` that can hold data (size above 0)."""
    names: list[str] = []
    try:
        entries = sorted(scope.sys_block.iterdir(), key=lambda path: path.name)
    except OSError:
        return names
    for entry in entries:
        name = entry.name
        # Floppies and RAM disks never hold an installed system; probing a floppy can hang.
        if name.startswith(("fd", "ram")):
            continue
        try:
            if int((entry / "size").read_text(encoding="utf-8")) == 0:
                continue
        except (OSError, ValueError):
            continue
        if scope.allows(name):
            names.append(name)
    return names


def probe(node: Path) -> dict[str, str]:
    """``blkid -p`` of one device as a dict (TYPE, UUID, LABEL, PART_ENTRY_*); {} when blkid
    finds nothing or the device cannot be read."""
    try:
        # blkid exits 2 when it finds nothing: its exit code is read, not checked
        result = run_tool(
            ["blkid", "-p", "-o", "export", str(node)],
            f"{node}: blkid (needed to find devices)",
            MountError,
            timeout=20,
            check=False,
        )
    except MountError as error:
        if error.details.get("timed_out"):
            return {}
        raise
    info: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            # The export format escapes blanks and shell characters with a backslash.
            info[key] = re.sub(r"\\(.)", r"\1", value)
    return info


def describe(node: Path) -> BlockDevice:
    """The BlockDevice at ``node``."""
    return BlockDevice(kernel_name(node) or node.name, node, probe(node))


def matches(info: Mapping[str, str], tag: str, value: str) -> bool:
    """Whether blkid's ``info`` carries ``tag=value``; UUIDs compare without case."""
    if tag == "LABEL":
        return info.get("LABEL") == value
    if tag == "PARTLABEL":
        return info.get("PART_ENTRY_NAME") == value
    key = "PART_ENTRY_UUID" if tag == "PARTUUID" else "UUID"
    return info.get(key, "").lower() == value.lower()


def find(spec: str, scope: DeviceScope) -> BlockDevice | None:
    """The one device ``spec`` names (a path or ``TAG=value``) if it exists now; MountError when
    it names more than one device, or (sandbox) a device outside the scope."""
    if spec.startswith("/"):
        node = Path(spec)
        name = kernel_name(node)
        if name is None:
            return None
        if not scope.allows(name):
            raise MountError(f"{spec}: not touched in sandbox mode ({scope.describe()})")
        return BlockDevice(name, node, probe(node))
    tag, _, value = spec.partition("=")
    found = [
        BlockDevice(name, Path("/dev") / name, info)
        for name in block_devices(scope)
        if matches(info := probe(Path("/dev") / name), tag, value)
    ]
    if len(found) > 1:
        nodes = ", ".join(str(device.node) for device in found)
        raise MountError(f"{spec} names {len(found)} devices ({nodes}): it must name one")
    return found[0] if found else None


def wait_for(
    spec: str,
    scope: DeviceScope,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    since: float | None = None,
) -> BlockDevice:
    """The device ``spec`` names, polling until ``deadline`` (a ``clock`` time) for one that
    the kernel or udev has not made yet; MountError naming the device and the seconds waited
    since ``since`` (the moment the deadline counts from; this call's start by default) when
    none appears."""
    started = clock() if since is None else since
    while True:
        device = find(spec, scope)
        if device is not None:
            return device
        now = clock()
        if now >= deadline:
            waited = round(now - started, 1)
            where = "" if scope.top is None else f" ({scope.describe()})"
            raise MountError(f"device {spec} did not appear within {waited} s{where}")
        sleep(min(POLL_SECONDS, max(deadline - now, 0.0)))


@dataclass(frozen=True)
class RootGuess:
    """The outcome of looking for a DPS root partition: the device or why there is none."""

    device: BlockDevice | None
    type_guid: str | None
    reason: str
    skipped: tuple[str, ...] = ()


def guess_root(scope: DeviceScope, machine: str | None = None) -> RootGuess:
    """The root partition by DPS type GUID: the first (lowest number) on the one disk that has
    such partitions. Several disks with one is ambiguous (an installer boots from a medium that
    is not the target, so the specification's "disk of the ESP" rule does not apply)."""
    arch = dps_architecture(machine)
    guid = root_type(machine)
    if arch is None or guid is None:
        return RootGuess(
            None, None, f"no DPS root type is known for {machine or platform.machine()}"
        )
    by_disk: dict[str, list[BlockDevice]] = {}
    skipped: list[str] = []
    for name in block_devices(scope):
        if partition_parent(name, scope.sys_block) is None:
            continue
        device = BlockDevice(name, Path("/dev") / name, probe(Path("/dev") / name))
        if device.info.get("PART_ENTRY_TYPE", "").lower() != guid:
            continue
        if device.flags() & FLAG_NO_AUTO:
            skipped.append(f"{device.node} (no-auto flag set)")
            continue
        if device.info.get("PART_ENTRY_NAME") in IGNORED_LABELS:
            skipped.append(f"{device.node} (labelled {device.info['PART_ENTRY_NAME']})")
            continue
        disk = device.info.get("PART_ENTRY_DISK") or partition_parent(name, scope.sys_block) or ""
        by_disk.setdefault(disk, []).append(device)
    kind = f"the {arch} root type {guid}"
    if not by_disk:
        return RootGuess(
            None, guid, f"no partition has {kind} ({scope.describe()})", tuple(skipped)
        )
    if len(by_disk) > 1:
        nodes = ", ".join(str(devs[0].node) for devs in by_disk.values())
        return RootGuess(
            None, guid, f"partitions on several disks have {kind}: {nodes}", tuple(skipped)
        )
    candidates = next(iter(by_disk.values()))
    candidates.sort(key=lambda device: int(device.info.get("PART_ENTRY_NUMBER", "0") or 0))
    chosen = candidates[0]
    return RootGuess(
        chosen,
        guid,
        f"{chosen.node} is the first partition with {kind} on its disk",
        tuple(skipped),
    )


def crypt_module_present(initrd_root: Path = Path("/")) -> bool:
    """Whether dracut's ``crypt`` module is in this initrd: dracut lists the modules it
    included in ``/usr/lib/dracut/modules.txt``."""
    listing = initrd_root / "usr" / "lib" / "dracut" / "modules.txt"
    try:
        return "crypt" in listing.read_text(encoding="utf-8").split()
    except OSError:
        return False
