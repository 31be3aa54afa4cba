"""The files containers leave in /iguana (mountlist, kernelAction, machine-id) are read only as
bounded regular files of their directory: real FIFOs, links and oversized files on disk are
refused in one line that names the file and quotes nothing of what it points at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iguana_fsm import identity, mountlist
from iguana_fsm.contract_files import (
    KERNEL_ACTION,
    MACHINE_ID,
    MOUNTLIST,
    Bound,
    Refused,
    read_bytes,
    read_text,
)
from iguana_fsm.errors import ExitCode

SECRET = "root:$6$pepper$NOT-FOR-THE-LOG:19000:0:99999:7:::\n"


@pytest.fixture
def iguana(tmp_path: Path) -> Path:
    """An /iguana directory, with a host file holding a secret beside it (outside)."""
    (tmp_path / "iguana").mkdir()
    (tmp_path / "shadow").write_text(SECRET)
    return tmp_path / "iguana"


def refusal(path: Path, bound: Bound = MOUNTLIST) -> str:
    """The one-line message of the refusal of ``path``."""
    with pytest.raises(Refused) as caught:
        read_bytes(path, bound)
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.MOUNT
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


class TestTypes:
    def test_a_regular_file_is_read_and_a_missing_one_is_none(self, iguana: Path) -> None:
        """A regular file's bytes come back whole; a missing file is None."""
        (iguana / "kernelAction").write_bytes(b"kexec\n")
        assert read_bytes(iguana / "kernelAction", KERNEL_ACTION) == b"kexec\n"
        assert read_bytes(iguana / "mountlist", MOUNTLIST) is None

    def test_a_fifo_is_refused_at_once_even_with_a_writer(self, iguana: Path) -> None:
        """A FIFO is refused by its type, without waiting for a writer or reading its data."""
        fifo = iguana / "mountlist"
        os.mkfifo(fifo)
        assert refusal(fifo).endswith("is a FIFO, not a regular file; not read")
        # a writer that keeps the FIFO open with data in it changes nothing
        writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        try:
            os.write(writer, b"/dev/vda2 /\n")
            assert "is a FIFO" in refusal(fifo)
        finally:
            os.close(writer)

    def test_a_directory_and_a_socket_are_refused(self, iguana: Path) -> None:
        """Directories and sockets are named as what they are."""
        import socket

        (iguana / "machine-id").mkdir()
        assert "is a directory" in refusal(iguana / "machine-id", MACHINE_ID)
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(iguana / "kernelAction"))
            assert "cannot read" in refusal(iguana / "kernelAction", KERNEL_ACTION)

    def test_a_link_out_of_the_directory_is_not_followed(self, iguana: Path) -> None:
        """A link to a host file (the /etc/shadow case) is refused and nothing of it is quoted."""
        for name in ("kernelAction", "mountlist", "machine-id"):
            (iguana / name).symlink_to(iguana.parent / "shadow")
            message = refusal(iguana / name)
            assert "symbolic link that leads out of" in message
            assert "pepper" not in message and "root:" not in message
        (iguana / "chain").symlink_to(iguana.parent / "shadow")
        (iguana / "kernelAction").unlink()
        (iguana / "kernelAction").symlink_to("chain")
        assert "leads out of" in refusal(iguana / "kernelAction")

    def test_a_link_to_dev_zero_is_refused(self, iguana: Path) -> None:
        """A link to an endless device is refused before a byte is read."""
        (iguana / "mountlist").symlink_to("/dev/zero")
        assert "leads out of" in refusal(iguana / "mountlist")

    def test_a_link_inside_the_directory_is_followed(self, iguana: Path) -> None:
        """A relative link to a file beside it is the file."""
        (iguana / "mountlist.new").write_text("/dev/vda2 /\n")
        (iguana / "mountlist").symlink_to("mountlist.new")
        assert read_text(iguana / "mountlist", MOUNTLIST) == "/dev/vda2 /\n"

    def test_a_hard_link_to_a_file_elsewhere_is_refused(self, iguana: Path) -> None:
        """A hard link (a second name of a host file) is refused by its link count."""
        os.link(iguana.parent / "shadow", iguana / "kernelAction")
        message = refusal(iguana / "kernelAction", KERNEL_ACTION)
        assert "2 hard links" in message and "pepper" not in message


class TestBounds:
    def test_too_many_bytes(self, iguana: Path) -> None:
        """A file larger than its bound is refused by its size, nothing parsed."""
        (iguana / "machine-id").write_text("0" * 65)
        assert refusal(iguana / "machine-id", MACHINE_ID).endswith(
            "65 bytes, more than the 64 allowed"
        )

    def test_too_many_lines(self, iguana: Path) -> None:
        """A file with more lines than its bound is refused, a last line without newline
        counted."""
        (iguana / "kernelAction").write_text("kexec\n\n\n\nx")
        assert refusal(iguana / "kernelAction", KERNEL_ACTION).endswith(
            "5 lines, more than the 4 allowed"
        )
        (iguana / "kernelAction").write_text("kexec\n\n\n\n")
        assert read_bytes(iguana / "kernelAction", KERNEL_ACTION) == b"kexec\n\n\n\n"

    def test_not_utf8(self, iguana: Path) -> None:
        """A mountlist that is not UTF-8 is refused with the byte's position only."""
        (iguana / "mountlist").write_bytes(b"/dev/vda2 /\n\xff\n")
        with pytest.raises(Refused, match=r"mountlist: not UTF-8 text \(byte 13\)\Z"):
            read_text(iguana / "mountlist", MOUNTLIST)

    def test_a_ten_thousand_line_mountlist_is_refused_by_its_bounds(self, iguana: Path) -> None:
        """A 10,000-line mountlist is refused before any line is parsed."""
        lines = ["/dev/vda2 /"] + [f"/dev/vdb{n} /srv/m{n}" for n in range(9_999)]
        (iguana / "mountlist").write_text("\n".join(lines) + "\n")
        with pytest.raises(Refused, match=r"bytes, more than the 65536 allowed"):
            mountlist.read(iguana / "mountlist")
        short = ["/dev/vda2 /"] + [f"/dev/vdb{n} /m{n}" for n in range(MOUNTLIST.max_lines)]
        (iguana / "mountlist").write_text("\n".join(short) + "\n")
        with pytest.raises(Refused, match=r"1025 lines, more than the 1024 allowed"):
            mountlist.read(iguana / "mountlist")


class TestMachineId:
    def test_a_fifo_machine_id_is_refused_not_waited_for(self, iguana: Path) -> None:
        """identity.read of a FIFO raises at once instead of blocking the boot."""
        os.mkfifo(iguana / "machine-id")
        with pytest.raises(Refused, match=r"machine-id: is a FIFO"):
            identity.read(iguana / "machine-id")

    def test_a_valid_id_is_read(self, iguana: Path) -> None:
        """A regular machine-id file gives its id; malformed text gives None."""
        (iguana / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
        assert identity.read(iguana / "machine-id") == "0123456789abcdef0123456789abcdef"
        (iguana / "machine-id").write_text("uninitialized\n")
        assert identity.read(iguana / "machine-id") is None
