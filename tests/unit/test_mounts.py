"""The mount toolbox's decisions that need no root: chroot-style path lookup, the mount
command built for a line, and what mountinfo says is mounted below a directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.errors import MountError
from iguana_fsm.mountlist import MountEntry
from iguana_fsm.mounts import Mount, mounted_under, resolve_in_root


class TestResolveInRoot:
    def test_absolute_symlink_starts_again_at_the_root(self, tmp_path: Path) -> None:
        """An absolute link inside the new root points inside it, not into the initrd."""
        (tmp_path / "usr" / "lib").mkdir(parents=True)
        (tmp_path / "lib").symlink_to("/usr/lib")
        assert resolve_in_root(tmp_path, "/lib/modules") == tmp_path / "usr" / "lib" / "modules"

    def test_dotdot_stops_at_the_root(self, tmp_path: Path) -> None:
        """A link climbing out with ``..`` ends at the root."""
        (tmp_path / "boot").symlink_to("../../../../../../../etc")
        assert resolve_in_root(tmp_path, "/boot/efi") == tmp_path / "etc" / "efi"

    def test_relative_symlink(self, tmp_path: Path) -> None:
        """A relative link is followed from its own directory."""
        (tmp_path / "var" / "home").mkdir(parents=True)
        (tmp_path / "home").symlink_to("var/home")
        assert resolve_in_root(tmp_path, "/home/user") == tmp_path / "var" / "home" / "user"

    def test_symlink_loop(self, tmp_path: Path) -> None:
        """A symlink loop is an error, not a hang."""
        (tmp_path / "a").symlink_to("b")
        (tmp_path / "b").symlink_to("a")
        with pytest.raises(MountError, match="too many levels"):
            resolve_in_root(tmp_path, "/a")


class TestMountCommand:
    def test_block_device(self) -> None:
        """A block device mounts with its probed type and the line's options plus Iguana's."""
        entry = MountEntry(3, "UUID=abcd", "/", ("noatime", "x-systemd.device-timeout=1"))
        mount = Mount(entry, "/dev/vda2", "block", "ext4", ("ro",))
        assert mount.argv(Path("/sysroot")) == [
            "mount", "-t", "ext4", "-o", "noatime,ro", "--", "/dev/vda2", "/sysroot",
        ]  # fmt: skip

    def test_bind_and_tmpfs(self) -> None:
        """A directory is bind-mounted; tmpfs gets its type and no options when none are given."""
        bind = Mount(MountEntry(1, "/iguana/root", "/"), "/x/iguana/root", "bind")
        assert bind.argv(Path("/s")) == ["mount", "--bind", "--", "/x/iguana/root", "/s"]
        tmpfs = Mount(MountEntry(2, "tmpfs", "/tmp"), "tmpfs", "tmpfs", "tmpfs")
        assert tmpfs.argv(Path("/s/tmp")) == ["mount", "-t", "tmpfs", "--", "tmpfs", "/s/tmp"]


class TestMountedUnder:
    def test_reads_mountinfo_with_escapes(self, tmp_path: Path) -> None:
        """Mount points below the root are found in order; octal escapes are decoded."""
        info = tmp_path / "mountinfo"
        info.write_text(
            "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
            "30 22 7:1 / /top/sysroot rw - ext4 /dev/loop1p1 rw\n"
            "31 30 7:2 / /top/sysroot/my\\040dir rw - vfat /dev/loop1p2 rw\n"
            "32 22 0:5 / /top/sysrootx rw - tmpfs tmpfs rw\n",
            encoding="utf-8",
        )
        found = mounted_under(Path("/top/sysroot"), info)
        assert found == [Path("/top/sysroot"), Path("/top/sysroot/my dir")]
