"""The mountlist file format: ``/iguana/mountlist`` parsed and checked strictly (mounting it is
``mounts.py``'s work).

One mount a line, ``device mountpoint [options]``. ``device`` is a path (``/dev/vda2``, or a
directory that is bind-mounted), ``UUID=``, ``LABEL=``, ``PARTUUID=``, ``PARTLABEL=`` or the
word ``tmpfs``.
``mountpoint`` is absolute and relative to the new root (``/`` is the new root itself). As in
fstab, ``\040`` writes a space (and ``\011`` a tab, ``\134`` a backslash) in either field.
``options`` are comma-separated as ``mount -o`` takes them; ``x-systemd.device-timeout=SECONDS``
sets how long to wait for the device. ``#`` starts a comment line; blank lines are ignored.

Order is the file's: a mountpoint must come after the mount that contains it. Iguana does not
reorder, because a list that names a child before its parent was written by a container that
got something wrong, and guessing its intent could hide the mistake.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from iguana_fsm import contract_files
from iguana_fsm.errors import MountError

TAGS = ("UUID", "LABEL", "PARTUUID", "PARTLABEL")
DEFAULT_DEVICE_TIMEOUT = 30.0
"""Seconds to wait for a device that has not appeared yet, unless the line says otherwise."""

TIMEOUT_OPTION = "x-systemd.device-timeout"

_OPTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]*\Z")
_TAG_VALUE = {
    "UUID": re.compile(r"[0-9A-Za-z][0-9A-Za-z-]*\Z"),
    "PARTUUID": re.compile(r"[0-9A-Fa-f][0-9A-Fa-f-]*\Z"),
    "LABEL": re.compile(r".+\Z"),
    "PARTLABEL": re.compile(r".+\Z"),
}
_TIMEOUT = re.compile(r"(\d+(?:\.\d+)?)(ms|s|min)?\Z")
# Operations of mount(8), not options of a file system: they would change what a line means.
_OPERATIONS = frozenset(
    {
        "remount",
        "move",
        "bind",
        "rbind",
        "loop",
        "shared",
        "rshared",
        "private",
        "rprivate",
        "slave",
        "rslave",
        "unbindable",
        "runbindable",
    }
)
# libmount sets up a loop device for any of these, just as for the refused ``loop``.
_LOOP_OPTIONS = frozenset({"offset", "sizelimit", "encryption"})


@dataclass(frozen=True)
class MountEntry:
    """One checked line of a mountlist."""

    line: int
    device: str
    mountpoint: str
    options: tuple[str, ...] = ()

    @property
    def tag(self) -> str | None:
        """``UUID``, ``LABEL``, ``PARTUUID`` or ``PARTLABEL`` when the device is a tag."""
        key, sep, _ = self.device.partition("=")
        return key if sep and key in TAGS else None

    @property
    def tag_value(self) -> str:
        """The value after ``TAG=``."""
        return self.device.partition("=")[2]

    @property
    def is_tmpfs(self) -> bool:
        """Whether the line asks for a fresh tmpfs."""
        return self.device == "tmpfs"

    @property
    def mount_options(self) -> tuple[str, ...]:
        """The options handed to mount: the ``x-`` ones are for Iguana, not the kernel."""
        return tuple(option for option in self.options if not option.startswith("x-"))

    @property
    def device_timeout(self) -> float:
        """Seconds to wait for the device (``x-systemd.device-timeout``, else the default)."""
        for option in self.options:
            name, _, value = option.partition("=")
            if name == TIMEOUT_OPTION:
                seconds = _timeout_seconds(value)
                if seconds is not None:
                    return seconds
        return DEFAULT_DEVICE_TIMEOUT


def _timeout_seconds(value: str) -> float | None:
    match = _TIMEOUT.match(value)
    if match is None:
        return None
    number = float(match.group(1))
    unit = match.group(2) or "s"
    return {"ms": number / 1000, "s": number, "min": number * 60}[unit]


def parse(text: str, source: str) -> list[MountEntry]:
    """Every entry of a mountlist; MountError listing every bad line as ``SOURCE:LINE: why``."""
    entries: list[MountEntry] = []
    found: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        entry, errors = _parse_line(number, line)
        found.extend((number, error) for error in errors)
        if entry is not None:
            entries.append(entry)
    found.extend(check_order(entries))
    found.sort(key=lambda problem: problem[0])
    problems = [f"{source}:{line}: {error}" for line, error in found]
    if not problems and not any(entry.mountpoint == "/" for entry in entries):
        problems.append(f"{source}: no line mounts the new root '/'")
    if problems:
        raise MountError("\n".join(problems), problems=problems)
    return entries


def read(path: Path) -> list[MountEntry] | None:
    """The entries of the mountlist at ``path``, None when there is none; MountError when it is
    bad, and ``contract_files.Refused`` (a MountError) when it is not a regular file of its
    directory within ``contract_files.MOUNTLIST``'s bounds (checked before any line is
    parsed)."""
    text = contract_files.read_text(path, contract_files.MOUNTLIST)
    if text is None:
        return None
    return parse(text, str(path))


def _parse_line(number: int, line: str) -> tuple[MountEntry | None, list[str]]:
    fields = line.split()
    if len(fields) not in (2, 3):
        plural = "" if len(fields) == 1 else "s"
        return None, [f"expected 'device mountpoint [options]', found {len(fields)} field{plural}"]
    device, mountpoint = unescape(fields[0]), unescape(fields[1])
    options = fields[2] if len(fields) == 3 else ""
    errors = [*_device_errors(device), *_mountpoint_errors(mountpoint), *_option_errors(options)]
    if errors:
        return None, errors
    normal = "/" + "/".join(PurePosixPath(mountpoint).parts[1:])
    return MountEntry(number, device, normal, tuple(options.split(",")) if options else ()), []


def _device_errors(device: str) -> list[str]:
    if device == "tmpfs":
        return []
    if device.startswith("/"):
        if ".." in PurePosixPath(device).parts:
            return [f"device {device}: '..' is not allowed in a device path"]
        return []
    key, sep, value = device.partition("=")
    if sep and key in TAGS:
        if not value:
            return [f"device {device}: {key}= needs a value"]
        if not _TAG_VALUE[key].match(value):
            return [f"device {device}: not a valid {key}"]
        return []
    if sep and key.upper() in TAGS:
        return [f"device {device}: write {key.upper()}= in capitals"]
    return [f"device {device!r} is not a path, UUID=, LABEL=, PARTUUID=, PARTLABEL= or tmpfs"]


def _mountpoint_errors(mountpoint: str) -> list[str]:
    if not mountpoint.startswith("/"):
        return [f"mountpoint {mountpoint!r} is not absolute (it is relative to the new root)"]
    if any(not char.isprintable() for char in mountpoint):
        return [f"mountpoint {mountpoint!r} contains a control character"]
    depth = 0
    for part in PurePosixPath(mountpoint).parts[1:]:
        depth += -1 if part == ".." else 1
        if depth < 0:
            return [f"mountpoint {mountpoint} escapes the new root"]
    if ".." in PurePosixPath(mountpoint).parts:
        return [f"mountpoint {mountpoint}: '..' is not allowed (write the path it means)"]
    return []


def _option_errors(options: str) -> list[str]:
    if not options:
        return []
    errors: list[str] = []
    items = options.split(",")
    if any(not item for item in items):
        errors.append(f"options {options!r}: empty option (stray comma)")
    for item in filter(None, items):
        name, sep, value = item.partition("=")
        if not _OPTION_NAME.match(name):
            errors.append(f"option {item!r} is not a mount option")
        elif name in _OPERATIONS or name.startswith(("make-", "X-mount.")):
            errors.append(f"option {name!r} is a mount operation, not allowed in a mountlist")
        elif name in _LOOP_OPTIONS:
            errors.append(f"option {name!r} sets up a loop device, not allowed in a mountlist")
        elif name == TIMEOUT_OPTION and _timeout_seconds(value) is None:
            errors.append(f"option {item!r}: expected seconds, e.g. {TIMEOUT_OPTION}=30")
        elif name in ("ro", "rw") and sep:
            errors.append(f"option {item!r} takes no value")
    if "ro" in items and "rw" in items:
        errors.append("options ro and rw contradict each other")
    return errors


def check_order(entries: Sequence[MountEntry]) -> list[tuple[int, str]]:
    """``(line, problem)`` for every duplicate mountpoint and every child listed before its
    parent (the first later line that contains it).

    Linear in the number of entries times the depth of a mountpoint: each entry looks up its
    own ancestors (``/``, ``/a``, ``/a/b`` ...) by path instead of comparing itself with every
    later entry."""
    problems: list[tuple[int, str]] = []
    first: dict[str, int] = {}
    for index, entry in enumerate(entries):
        first.setdefault(entry.mountpoint, index)
    for index, entry in enumerate(entries):
        earlier = first[entry.mountpoint]
        if earlier != index:
            line = entries[earlier].line
            problems.append(
                (entry.line, f"mountpoint {entry.mountpoint} is already used on line {line}")
            )
            continue
        later = [first[p] for p in _ancestors(entry.mountpoint) if first.get(p, -1) > index]
        if later:
            parent = entries[min(later)]
            problems.append(
                (
                    entry.line,
                    f"mountpoint {entry.mountpoint} comes before {parent.mountpoint} "
                    f"(line {parent.line}) that contains it: list parents first",
                )
            )
    return problems


def _ancestors(mountpoint: str) -> list[str]:
    """The mountpoints that contain ``mountpoint``, ``/`` first, itself excluded."""
    parts = PurePosixPath(mountpoint).parts[1:]
    return ["/" + "/".join(parts[:depth]) for depth in range(len(parts))]


def is_under(path: str, parent: str) -> bool:
    """Whether absolute ``path`` equals ``parent`` or lies below it."""
    return parent == "/" or path == parent or path.startswith(parent.rstrip("/") + "/")


def unescape(text: str) -> str:
    """fstab and mountinfo write space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), text)
