"""The mountlist parser and its checks, and the device scope and DPS types it relies on (the
mount toolbox is tests/unit/test_mounts.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.devices import (
    DeviceScope,
    block_devices,
    dps_architecture,
    partition_parent,
    root_type,
)
from iguana_fsm.errors import MountError
from iguana_fsm.mountlist import DEFAULT_DEVICE_TIMEOUT, is_under, parse, read

SOURCE = "/iguana/mountlist"


def problems(text: str) -> list[str]:
    """The lines of the MountError that parsing ``text`` raises."""
    with pytest.raises(MountError) as caught:
        parse(text, SOURCE)
    lines = str(caught.value).splitlines()
    assert caught.value.details["problems"] == lines
    return lines


class TestValidLists:
    def test_every_device_form_is_accepted(self) -> None:
        """Paths, UUID=, LABEL=, PARTUUID= and tmpfs are all devices."""
        entries = parse(
            "UUID=0f1e2d3c-aaaa-bbbb-cccc-000000000001 /\n"
            "LABEL=EFI /boot/efi umask=0077\n"
            "PARTUUID=6f42001d-2749-4441-8d19-9ef669b3b47e /home\n"
            "/dev/vdb1 /srv noatime,nodev\n"
            "tmpfs /tmp size=16m\n",
            SOURCE,
        )
        assert [entry.device.split("=")[0] for entry in entries] == [
            "UUID",
            "LABEL",
            "PARTUUID",
            "/dev/vdb1",
            "tmpfs",
        ]
        assert [entry.tag for entry in entries] == ["UUID", "LABEL", "PARTUUID", None, None]
        assert entries[3].options == ("noatime", "nodev")
        assert entries[4].is_tmpfs

    def test_comments_blank_lines_and_line_numbers(self) -> None:
        """Comments and blank lines are skipped but still count for line numbers."""
        entries = parse(
            "# root first\n\n   \n/dev/vda2 /\n  # indented comment\n/dev/vda1 /boot\n", SOURCE
        )
        assert [(entry.line, entry.mountpoint) for entry in entries] == [(4, "/"), (6, "/boot")]

    def test_mountpoints_are_normalised(self) -> None:
        """Double and trailing slashes and ``.`` parts are dropped from mountpoints."""
        entries = parse("/dev/vda2 /\n/dev/vda1 //boot/./efi/\n", SOURCE)
        assert entries[1].mountpoint == "/boot/efi"

    def test_x_options_are_kept_from_mount(self) -> None:
        """``x-`` options steer Iguana and are not handed to mount."""
        (entry,) = parse("UUID=abcd / ro,x-systemd.device-timeout=2s,x-foo.bar\n", SOURCE)
        assert entry.mount_options == ("ro",)
        assert entry.device_timeout == 2.0

    @pytest.mark.parametrize(("value", "seconds"), [("5", 5.0), ("250ms", 0.25), ("1min", 60.0)])
    def test_device_timeout_units(self, value: str, seconds: float) -> None:
        """The device timeout takes seconds, ms or min."""
        (entry,) = parse(f"UUID=abcd / x-systemd.device-timeout={value}\n", SOURCE)
        assert entry.device_timeout == seconds

    def test_default_device_timeout(self) -> None:
        """Without the option a device is waited for the default time."""
        (entry,) = parse("LABEL=root /\n", SOURCE)
        assert entry.device_timeout == DEFAULT_DEVICE_TIMEOUT

    def test_one_device_may_be_mounted_twice(self) -> None:
        """The same device on two mountpoints is allowed (btrfs subvolumes)."""
        entries = parse("UUID=abcd / subvol=@\nUUID=abcd /home subvol=@home\n", SOURCE)
        assert len(entries) == 2

    def test_fstab_escapes_write_spaces(self) -> None:
        """``\\040`` in a device or mountpoint is a space, as in fstab."""
        entries = parse("LABEL=my\\040root /\nPARTLABEL=EFI\\040System /boot/my\\040efi\n", SOURCE)
        assert [(entry.device, entry.mountpoint) for entry in entries] == [
            ("LABEL=my root", "/"),
            ("PARTLABEL=EFI System", "/boot/my efi"),
        ]
        assert entries[1].tag == "PARTLABEL" and entries[1].tag_value == "EFI System"

    def test_read_of_a_missing_file_is_none(self, tmp_path: Path) -> None:
        """No mountlist is no list (the stage then guesses the root), not an error."""
        assert read(tmp_path / "mountlist") is None

    def test_read_parses_a_regular_file(self, tmp_path: Path) -> None:
        """A mountlist on disk is read and parsed with its file name in the problems."""
        path = tmp_path / "mountlist"
        path.write_text("/dev/vda2 /\n/dev/vda1 /boot/efi\n")
        assert [entry.mountpoint for entry in read(path) or []] == ["/", "/boot/efi"]
        path.write_text("/dev/vda1 /boot\n")
        with pytest.raises(MountError, match=rf"{path}: no line mounts the new root"):
            read(path)


class TestBadLists:
    def test_every_bad_line_is_reported_with_its_number(self) -> None:
        """All problems come at once, one line each, in line order, as FILE:LINE: message."""
        lines = problems(
            "/dev/vda2 /\n"
            "bad\n"
            "/dev/vda3 relative/path\n"
            "uuid=abcd /srv\n"
            "/dev/vda4 /x a,,b\n"
            "/dev/vda5 /y ro,rw\n"
            "/dev/vda6 /z too many fields\n"
        )
        assert [line.split(":")[1] for line in lines] == ["2", "3", "4", "5", "6", "7"]
        assert all(line.startswith(f"{SOURCE}:") for line in lines)
        assert "found 1 field" in lines[0]
        assert "not absolute" in lines[1]
        assert "write UUID= in capitals" in lines[2]
        assert "empty option" in lines[3]
        assert "ro and rw contradict" in lines[4]
        assert "found 5 fields" in lines[5]

    def test_escaping_the_new_root_is_refused(self) -> None:
        """A mountpoint whose ``..`` climbs above the new root is refused as an escape."""
        (line,) = problems("/dev/vda2 /\n/dev/vda3 /../../etc\n")
        assert line == f"{SOURCE}:2: mountpoint /../../etc escapes the new root"

    def test_dotdot_inside_the_root_is_refused_too(self) -> None:
        """``..`` that stays inside is still refused: the writer should say what it means."""
        (line,) = problems("/dev/vda2 /\n/dev/vda3 /boot/../srv\n")
        assert "'..' is not allowed" in line

    def test_unknown_device_form(self) -> None:
        """A device that is no path, tag or tmpfs is named in the error."""
        (line,) = problems("vda2 /\n")
        assert "device 'vda2' is not a path, UUID=, LABEL=, PARTUUID=, PARTLABEL= or tmpfs" in line

    def test_bad_tag_values(self) -> None:
        """Empty tags and a PARTUUID that is not hex are refused."""
        lines = problems("UUID= /\nPARTUUID=xyz-123 /srv\n")
        assert "UUID= needs a value" in lines[0]
        assert "not a valid PARTUUID" in lines[1]

    @pytest.mark.parametrize(
        "option", ["bind", "remount", "move", "loop", "rshared", "make-private"]
    )
    def test_mount_operations_are_not_options(self, option: str) -> None:
        """Options that turn mount into another operation are refused."""
        (line,) = problems(f"/dev/vda2 / {option}\n")
        assert "mount operation" in line

    @pytest.mark.parametrize("option", ["offset=1048576", "sizelimit=4096", "encryption=aes"])
    def test_loop_device_options_are_refused(self, option: str) -> None:
        """Options with which mount sets up a loop device are refused like ``loop``."""
        (line,) = problems(f"/dev/vda2 / noatime,{option}\n")
        name = option.partition("=")[0]
        assert line.endswith(f"option {name!r} sets up a loop device, not allowed in a mountlist")

    def test_bad_device_timeout(self) -> None:
        """A device timeout that is not a duration is refused."""
        (line,) = problems("/dev/vda2 / x-systemd.device-timeout=soon\n")
        assert "expected seconds" in line

    def test_child_before_parent_is_refused(self) -> None:
        """Parents must come first: the child's line names the later parent."""
        (line,) = problems("/dev/vda2 /\n/dev/vda1 /boot/efi\n/dev/vda3 /boot\n")
        assert line == (
            f"{SOURCE}:2: mountpoint /boot/efi comes before /boot (line 3) that contains it: "
            "list parents first"
        )

    def test_root_must_come_first(self) -> None:
        """``/`` contains everything, so any line before it is out of order."""
        (line,) = problems("/dev/vda1 /boot\n/dev/vda2 /\n")
        assert line.startswith(f"{SOURCE}:1: mountpoint /boot comes before / (line 2)")

    def test_duplicate_mountpoint(self) -> None:
        """A mountpoint used twice is refused on its second line."""
        (line,) = problems("/dev/vda2 /\n/dev/vda1 /boot\n/dev/vda3 /boot/\n")
        assert line == f"{SOURCE}:3: mountpoint /boot is already used on line 2"

    def test_no_root(self) -> None:
        """A list without ``/`` has no new root."""
        assert problems("# nothing\n") == [f"{SOURCE}: no line mounts the new root '/'"]
        assert problems("/dev/vda1 /boot\n") == [f"{SOURCE}: no line mounts the new root '/'"]

    def test_similar_prefix_is_not_a_parent(self) -> None:
        """/bootx is not inside /boot, so it may come before it."""
        entries = parse("/dev/vda2 /\n/dev/vda1 /bootx\n/dev/vda3 /boot\n", SOURCE)
        assert len(entries) == 3
        assert not is_under("/bootx", "/boot")
        assert is_under("/boot/efi", "/boot")


def fake_sysfs(top: Path, image_dir: Path) -> Path:
    """A /sys/class/block look-alike: loop0 (backed under ``image_dir``) with partition loop0p1,
    dm-0 on loop0p1, loop1 backed elsewhere, an empty loop2, a disk sda and a floppy."""
    devices = top / "devices"
    block = top / "class" / "block"
    block.mkdir(parents=True)

    def device(path: str, size: int = 2048) -> Path:
        directory = devices / path
        directory.mkdir(parents=True)
        (directory / "size").write_text(f"{size}\n")
        (block / directory.name).symlink_to(directory)
        return directory

    loop0 = device("virtual/block/loop0")
    (loop0 / "loop").mkdir()
    (loop0 / "loop" / "backing_file").write_text(f"{image_dir}/disk.img\n")
    (device("virtual/block/loop0/loop0p1") / "partition").write_text("1\n")
    (device("virtual/block/dm-0") / "slaves").mkdir()
    (devices / "virtual/block/dm-0/slaves/loop0p1").mkdir()
    loop1 = device("virtual/block/loop1")
    (loop1 / "loop").mkdir()
    (loop1 / "loop" / "backing_file").write_text("/somewhere/else.img\n")
    device("virtual/block/loop2", size=0)
    device("pci0000:00/block/sda")
    device("platform/floppy/block/fd0")
    return block


class TestDeviceScope:
    def test_sandbox_scope_is_loop_devices_backed_under_the_sandbox(self, tmp_path: Path) -> None:
        """Loop devices backed under the sandbox, their partitions and dm volumes on them are
        in scope; other loops and real disks are not."""
        sandbox = tmp_path / "sandbox"
        block = fake_sysfs(tmp_path / "sys", sandbox)
        scope = DeviceScope(top=sandbox, sys_block=block)
        allowed = {
            name: scope.allows(name) for name in ("loop0", "loop0p1", "dm-0", "loop1", "sda")
        }
        assert allowed == {
            "loop0": True,
            "loop0p1": True,
            "dm-0": True,
            "loop1": False,
            "sda": False,
        }
        assert block_devices(scope) == ["dm-0", "loop0", "loop0p1"]
        assert "sandbox: only loop devices backed by files under" in scope.describe()

    def test_initrd_scope_is_every_device_with_data(self, tmp_path: Path) -> None:
        """Without a sandbox every device is in scope except empty ones and floppies."""
        block = fake_sysfs(tmp_path / "sys", tmp_path / "sandbox")
        scope = DeviceScope(sys_block=block)
        assert block_devices(scope) == ["dm-0", "loop0", "loop0p1", "loop1", "sda"]
        assert partition_parent("loop0p1", block) == "loop0"
        assert partition_parent("loop0", block) is None

    def test_a_sibling_directory_with_the_same_prefix_is_outside(self, tmp_path: Path) -> None:
        """A backing file in ``sandbox-other`` is not under ``sandbox``."""
        block = fake_sysfs(tmp_path / "sys", tmp_path / "sandbox-other")
        assert not DeviceScope(top=tmp_path / "sandbox", sys_block=block).allows("loop0")

    @pytest.mark.parametrize(
        ("machine", "arch", "guid"),
        [
            ("x86_64", "x86-64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"),
            ("aarch64", "arm64", "b921b045-1df0-41c3-af44-4c6f280d3fae"),
            ("armv7l", "arm", "69dad710-2ce4-4e3c-b16c-21a1d49abed3"),
            ("i686", "x86", "44479540-f297-41b2-9af7-d131d5f0458a"),
            ("ppc64le", "ppc64-le", "c31c45e6-3f39-412e-80fb-4809c4980599"),
            ("riscv64", "riscv64", "72ec70a6-cf74-40e6-bd49-4bda08e8f224"),
            ("s390x", "s390x", "5eead9a9-fe09-4a1e-a1d7-520d00531306"),
            ("sparc64", "sparc64", "f7b4d167-1e51-42a9-8151-ec96c2e99478"),
            ("vax", None, None),
        ],
    )
    def test_dps_root_type_per_architecture(
        self, machine: str, arch: str | None, guid: str | None
    ) -> None:
        """Each architecture maps to the specification's root partition type."""
        assert dps_architecture(machine) == arch
        assert root_type(machine) == guid
