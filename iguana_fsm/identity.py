"""The machine id: one identity for the containers and for the system they install.

Before the first container, ``prepare`` settles ``/iguana/machine-id``: kept when it already
exists (a resumed boot), else taken from the ``/etc/machine-id`` of the system already on the
disk, else made new. "The system on the disk" is the DPS root partition (see ``devices``), mounted
read-only for a moment; other layouts are not searched, since guessing among arbitrary partitions
could pick another machine's identity. After the new root is mounted, ``install`` writes the id
into it unless it has one of its own.
"""

from __future__ import annotations

import contextlib
import errno
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

from iguana_fsm import contract_files
from iguana_fsm.atomic import write_atomic
from iguana_fsm.devices import DeviceScope, guess_root
from iguana_fsm.errors import IguanaError, MountError
from iguana_fsm.mounts import resolve_in_root, unmount_tree
from iguana_fsm.paths import Paths
from iguana_fsm.tools import run_tool

_ID = re.compile(r"[0-9a-f]{32}\Z")


def parse(text: str) -> str | None:
    """The id in a machine-id file's text; None for empty, ``uninitialized`` or malformed."""
    word = text.strip()
    if _ID.match(word) and word != "0" * 32:
        return word
    return None


def read(path: Path) -> str | None:
    """The valid id in the file at ``path``, None when there is none (no file, or not an id);
    ``contract_files.Refused`` (exit 7) when it is not a small regular file of its directory:
    a FIFO a container left there must not hang the boot, nor a link lead to a host file."""
    data = contract_files.read_bytes(path, contract_files.MACHINE_ID)
    return None if data is None else parse(data.decode("ascii", errors="replace"))


def generate() -> str:
    """A new random id (a version 4 UUID as 32 hex digits, as systemd makes them)."""
    return uuid.uuid4().hex


def _write(path: Path, machine_id: str, mode: int) -> None:
    """Write atomically: a reader never sees a half-written id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (machine_id + "\n").encode("ascii"), mode)


def read_only_options(fstype: str) -> str:
    """``mount -o`` for a look that writes nothing: plain ``ro`` still replays a journal."""
    if fstype in ("ext3", "ext4"):
        return "ro,noload"
    if fstype == "xfs":
        return "ro,norecovery"
    return "ro"


def existing_root_id(scope: DeviceScope, scratch: Path, log: Any) -> tuple[str | None, str]:
    """``(id, where)`` from the DPS root partition's ``/etc/machine-id``; ``(None, why not)``."""
    guess = guess_root(scope)
    device = guess.device
    if device is None:
        return None, guess.reason
    if device.is_luks or not device.fstype:
        return None, f"{device.node} holds {device.fstype or 'no file system'}"
    scratch.mkdir(parents=True, exist_ok=True)
    mountpoint = Path(tempfile.mkdtemp(prefix="oldroot.", dir=scratch))
    try:
        options = read_only_options(device.fstype)
        try:
            run_tool(
                [
                    "mount",
                    "-t",
                    device.fstype,
                    "-o",
                    options,
                    "--",
                    str(device.node),
                    str(mountpoint),
                ],
                f"{device.node}: cannot mount read-only",
                MountError,
            )
        except MountError as error:
            return None, str(error)
        try:
            found = read(resolve_in_root(mountpoint, "etc/machine-id"))
        except contract_files.Refused as error:
            return None, str(error)
        finally:
            unmount_tree(mountpoint, log)
    finally:
        # a leftover empty directory in /run must not hide the error that caused it
        with contextlib.suppress(OSError):
            mountpoint.rmdir()
    if found is None:
        return None, f"{device.node} has no valid /etc/machine-id"
    return found, f"{device.node}:/etc/machine-id"


def prepare(paths: Paths, log: Any, scope: DeviceScope | None = None) -> str:
    """Settle ``/iguana/machine-id`` before the first container runs; the id."""
    kept = read(paths.machine_id)
    if kept is not None:
        log.info("identity.kept", machine_id=kept, source=str(paths.machine_id))
        return kept
    scope = scope if scope is not None else DeviceScope.for_paths(paths)
    try:
        found, where = existing_root_id(scope, paths.run, log)
    except IguanaError as error:
        found, where = None, str(error)
    machine_id = found or generate()
    try:
        _write(paths.machine_id, machine_id, 0o444)
    except OSError as error:
        raise MountError(
            f"{paths.machine_id}: cannot write the machine id: {error.strerror}"
        ) from None
    if found:
        log.info("identity.inherited", machine_id=machine_id, source=where)
    else:
        log.info("identity.generated", machine_id=machine_id, why=where)
    return machine_id


def install(paths: Paths, newroot: Path, log: Any) -> str:
    """Give the mounted new root the boot's machine id unless it has a valid one of its own;
    ``kept``, ``written`` or ``skipped`` (no ``/etc`` there, or no id to give)."""
    target = resolve_in_root(newroot, "etc/machine-id")
    own = read(target)
    if own is not None:
        log.info("identity.installed_kept", machine_id=own)
        return "kept"
    machine_id = read(paths.machine_id)
    if machine_id is None:
        log.warning("identity.none", why=f"{paths.machine_id} holds no valid id")
        return "skipped"
    if not target.parent.is_dir():
        log.warning("identity.no_etc", why="the new root has no /etc")
        return "skipped"
    try:
        _write(target, machine_id, 0o444)
    except OSError as error:
        if error.errno == errno.EROFS:
            log.warning("identity.read_only", why="the new root is mounted read-only")
            return "skipped"
        raise MountError(f"{target}: cannot write the machine id: {error.strerror}") from None
    log.info("identity.installed", machine_id=machine_id)
    return "written"
