"""The machine id: read, generated, kept across attempts, installed into the new root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture

from iguana_fsm import identity
from iguana_fsm.paths import Paths


def capture() -> tuple[Any, LogCapture]:
    """A structlog logger whose events land in the returned LogCapture."""
    sink = LogCapture()
    return structlog.wrap_logger(None, processors=[sink]), sink


class TestMachineId:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("0123456789abcdef0123456789abcdef\n", "0123456789abcdef0123456789abcdef"),
            ("", None),
            ("uninitialized\n", None),
            ("0" * 32, None),
            ("0123456789ABCDEF0123456789ABCDEF", None),
        ],
    )
    def test_parse(self, text: str, expected: str | None) -> None:
        """Only 32 lowercase hex digits, not all zero, are an id."""
        assert identity.parse(text) == expected

    def test_generate_is_valid_and_new(self) -> None:
        """Generated ids are valid and differ."""
        first, second = identity.generate(), identity.generate()
        assert identity.parse(first) == first and first != second

    @pytest.mark.parametrize(
        ("fstype", "options"),
        [("ext4", "ro,noload"), ("ext3", "ro,noload"), ("xfs", "ro,norecovery"), ("vfat", "ro")],
    )
    def test_read_only_look_replays_no_journal(self, fstype: str, options: str) -> None:
        """The look at an existing root asks the file system not to replay its journal."""
        assert identity.read_only_options(fstype) == options

    def test_prepare_keeps_an_id_from_an_earlier_attempt(self, tmp_path: Path) -> None:
        """A resumed boot keeps the id the containers already saw."""
        paths = Paths.for_sandbox(tmp_path)
        paths.iguana.mkdir(parents=True)
        paths.machine_id.write_text("0123456789abcdef0123456789abcdef\n")
        log, sink = capture()
        assert identity.prepare(paths, log) == "0123456789abcdef0123456789abcdef"
        assert sink.entries[-1]["event"] == "identity.kept"

    def test_install_writes_only_when_the_root_has_none(self, tmp_path: Path) -> None:
        """The new root gets the boot's id when its own is empty, and keeps a valid one."""
        paths = Paths.for_sandbox(tmp_path)
        paths.iguana.mkdir(parents=True)
        paths.machine_id.write_text("0123456789abcdef0123456789abcdef\n")
        root = tmp_path / "root"
        (root / "etc").mkdir(parents=True)
        (root / "etc" / "machine-id").write_text("")
        log, _ = capture()
        assert identity.install(paths, root, log) == "written"
        assert (root / "etc" / "machine-id").read_text() == "0123456789abcdef0123456789abcdef\n"
        (root / "etc" / "machine-id").chmod(0o644)
        (root / "etc" / "machine-id").write_text("fedcba9876543210fedcba9876543210\n")
        assert identity.install(paths, root, log) == "kept"
        assert (root / "etc" / "machine-id").read_text() == "fedcba9876543210fedcba9876543210\n"

    def test_install_skips_a_root_without_etc(self, tmp_path: Path) -> None:
        """A root without /etc is left alone, with a warning."""
        paths = Paths.for_sandbox(tmp_path)
        paths.iguana.mkdir(parents=True)
        paths.machine_id.write_text("0123456789abcdef0123456789abcdef\n")
        (tmp_path / "root").mkdir()
        log, sink = capture()
        assert identity.install(paths, tmp_path / "root", log) == "skipped"
        assert sink.entries[-1]["event"] == "identity.no_etc"
