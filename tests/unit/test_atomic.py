"""The one atomic write (iguana_fsm/atomic.py) and the checkpoint store's use of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iguana_fsm.atomic import remove_stale_temps, write_atomic
from iguana_fsm.checkpoint import BootRecord, CheckpointStore
from iguana_fsm.errors import CheckpointError


class TestAtomicWrite:
    def test_writes_with_mode_and_replaces_a_link(self, tmp_path: Path) -> None:
        """The file gets the data and the mode; a link at its name is replaced, not followed."""
        victim = tmp_path / "victim"
        victim.write_bytes(b"old")
        target = tmp_path / "file"
        target.symlink_to(victim)
        write_atomic(target, b"new", 0o640)
        assert victim.read_bytes() == b"old"
        assert not target.is_symlink() and target.read_bytes() == b"new"
        assert target.stat().st_mode & 0o777 == 0o640

    def test_failure_leaves_no_temp_file(self, tmp_path: Path) -> None:
        """When the rename fails (a directory has the name) the OSError comes out and the
        temp file is gone."""
        (tmp_path / "taken").mkdir()
        with pytest.raises(IsADirectoryError):
            write_atomic(tmp_path / "taken", b"data")
        assert [p.name for p in tmp_path.iterdir()] == ["taken"]

    def test_checkpoint_failure_is_a_checkpoint_error(self, tmp_path: Path) -> None:
        """CheckpointStore.save turns the OSError into a CheckpointError naming the file and
        leaves no temp file; a good save is root-only."""
        (tmp_path / "state").mkdir()
        store = CheckpointStore(tmp_path / "state")
        with pytest.raises(CheckpointError, match=r"state: cannot write checkpoint: .*directory"):
            store.save(BootRecord(run_id="r", state="mount"))
        assert [p.name for p in tmp_path.iterdir()] == ["state"]
        good = CheckpointStore(tmp_path / "good")
        good.save(BootRecord(run_id="r", state="mount"))
        assert good.load().state == "mount"
        assert good.path.stat().st_mode & 0o777 == 0o600


WRITER = """
import os, sys
from pathlib import Path
from iguana_fsm import atomic

real = os.replace
def replace(source, destination):
    print("written", flush=True)
    sys.stdin.readline()  # hold the temp file (and its lock) until the test says go on
    real(source, destination)
os.replace = replace
atomic.write_atomic(Path(sys.argv[1]), b"new", 0o600)
"""


class TestStaleTemps:
    """remove_stale_temps: a killed writer's temp file goes, a live writer's stays."""

    def writer(self, target: Path) -> subprocess.Popen[str]:
        """A process inside write_atomic of ``target``, stopped before its rename."""
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline() == "written\n"
        return process

    def test_a_live_writers_temp_file_stays(self, tmp_path: Path) -> None:
        """While its writer runs, the temp file is not removed, and the write completes."""
        writer = self.writer(tmp_path / "state")
        try:
            assert remove_stale_temps(tmp_path, ["state"]) == []
            assert len(list(tmp_path.glob(".state.*"))) == 1
        finally:
            writer.communicate("go\n", timeout=30)
        assert writer.returncode == 0
        assert (tmp_path / "state").read_bytes() == b"new"
        assert list(tmp_path.glob(".state.*")) == []

    def test_a_killed_writers_temp_file_goes(self, tmp_path: Path) -> None:
        """After its writer got SIGKILL, the temp file is removed; other names are kept."""
        writer = self.writer(tmp_path / "state")
        writer.kill()
        writer.communicate(timeout=30)
        (tmp_path / ".other.abcdefgh").touch()
        (tmp_path / ".state.not-a-temp-name").touch()
        left = list(tmp_path.glob(".state.????????"))
        assert len(left) == 1
        assert remove_stale_temps(tmp_path, ["state", "machine-id"]) == left
        assert sorted(path.name for path in tmp_path.iterdir()) == [
            ".other.abcdefgh",
            ".state.not-a-temp-name",
        ]

    def test_a_failed_write_names_its_file(self, tmp_path: Path) -> None:
        """An error of the write itself names the target, not an anonymous descriptor."""
        (tmp_path / "taken").mkdir()
        with pytest.raises(OSError, match="taken"):
            write_atomic(tmp_path / "taken", b"data")
