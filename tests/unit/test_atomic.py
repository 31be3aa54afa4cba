"""The one atomic write (iguana_fsm/atomic.py) and the checkpoint store's use of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.atomic import write_atomic
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
