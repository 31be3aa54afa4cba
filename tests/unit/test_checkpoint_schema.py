"""The checkpoint schema rule: this Iguana reads every older schema (each from a checkpoint that
version wrote) and saves it in its own; a newer schema is refused in one line naming the file
and both numbers (exit 8), while ``iguana status`` shows what it knows of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.checkpoint import MIGRATIONS, SCHEMA_VERSION, CheckpointStore, decode
from iguana_fsm.cli import main
from iguana_fsm.errors import CheckpointError, ExitCode
from iguana_fsm.paths import Paths
from iguana_fsm.record import JobStatus
from tests.unit.boot_harness import Boot, boot_holding

DATA = Path(__file__).parent / "data"
WORKFLOW = DATA / "checkpoint-v1-workflow.yaml"
WRITTEN_BY_OLDER = {
    "v1 (004d3ae)": (1, DATA / "checkpoint-v1-failed-job.json"),
    "v2 as first written (b246d0b)": (2, DATA / "checkpoint-v2-first-failed-job.json"),
    "v2 with the later fields (c3a56fa)": (2, DATA / "checkpoint-v2-last-failed-job.json"),
}
"""Checkpoints the Iguana of each commit wrote (tests/unit/data/write_old_checkpoint.py): job
``install`` failed with exit 3, ``cleanup`` ran, ``finish`` was skipped, then rescue."""


def boot_with(top: Path, checkpoint: Path) -> Boot:
    """A sandbox holding ``checkpoint``, its workflow and the kept command line."""
    return boot_holding(top, WORKFLOW, checkpoint)


def newer(tmp_path: Path) -> Path:
    """A checkpoint of the next schema: this version's fields plus keys it does not know, at
    the top, in a job and in the error."""
    source = json.loads((DATA / "checkpoint-v2-last-failed-job.json").read_text())
    data: dict[str, Any] = {**decode(source, "fixture").to_json(), "schema": SCHEMA_VERSION + 1}
    data["attestation"] = {"quote": "..."}
    data["jobs"]["install"]["cpu_seconds"] = 12.5
    data["error"]["hint"] = "grow the disk"
    paths = Paths.for_sandbox(tmp_path)
    paths.state.parent.mkdir(parents=True, exist_ok=True)
    paths.state.write_text(json.dumps(data))
    return paths.state


def test_every_older_schema_has_a_checkpoint_its_version_wrote() -> None:
    """Each schema this version claims to read (each step of MIGRATIONS, 1 up to the one
    before its own) is proven by at least one checkpoint written by that version."""
    assert set(MIGRATIONS) == set(range(1, SCHEMA_VERSION))
    proven = {schema for schema, _ in WRITTEN_BY_OLDER.values()}
    assert proven == set(MIGRATIONS)
    for schema, path in WRITTEN_BY_OLDER.values():
        assert json.loads(path.read_text())["schema"] == schema


@pytest.mark.parametrize("name", list(WRITTEN_BY_OLDER))
def test_an_older_checkpoint_reads_as_its_version_wrote_it(name: str) -> None:
    """The failed boot an older version recorded reads with the same facts: state, failed
    job, exit codes, the error's code and tail, every transition."""
    _, path = WRITTEN_BY_OLDER[name]
    data = json.loads(path.read_text())
    record = decode(data, str(path))
    assert record.schema == SCHEMA_VERSION
    assert record.state == "rescue" and record.failed_state == "jobs"
    assert record.jobs["install"].status == JobStatus.FAILED
    assert record.jobs["install"].exit_code == 3
    assert record.jobs["cleanup"].status == JobStatus.SUCCEEDED
    assert record.jobs["finish"].status == JobStatus.SKIPPED
    assert record.error is not None and record.error.code == ExitCode.JOB
    assert record.error.tail[-1] == "no space left"
    assert record.transitions == len(data["history"])
    assert record.run_id == data["run_id"]


@pytest.mark.parametrize("name", list(WRITTEN_BY_OLDER))
def test_an_older_checkpoint_resumes_and_is_upgraded(tmp_path: Path, name: str) -> None:
    """``iguana resume`` of an older version's checkpoint runs the failed and skipped jobs
    only, and saves the record in this version's schema."""
    boot = boot_with(tmp_path, WRITTEN_BY_OLDER[name][1])
    assert boot.resume() == 0
    assert [n.rsplit("-", 1)[-1] for n in boot.engine.names("run_job")] == ["install", "finish"]
    assert json.loads(boot.paths.state.read_text())["schema"] == SCHEMA_VERSION
    assert boot.record().state == "switch_root"


@pytest.mark.parametrize("name", list(WRITTEN_BY_OLDER))
def test_status_of_an_older_checkpoint(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``iguana status`` of an older version's failed boot says it failed with the job's exit
    code (6) and names the job, without a warning."""
    boot = boot_with(tmp_path, WRITTEN_BY_OLDER[name][1])
    assert main(["status", "--sandbox", str(boot.top)]) == ExitCode.JOB
    out, err = capsys.readouterr()
    assert "install" in out and err == ""


def test_a_newer_checkpoint_is_refused_in_one_line(tmp_path: Path) -> None:
    """Loading a newer schema's checkpoint (as resume does) is a CheckpointError (exit 8)
    naming the file and both schema numbers."""
    path = newer(tmp_path)
    with pytest.raises(CheckpointError) as caught:
        CheckpointStore(path).load()
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.CHECKPOINT == 8
    assert "\n" not in message and str(path) in message
    assert f"schema {SCHEMA_VERSION + 1}" in message and f"1 to {SCHEMA_VERSION}" in message


def test_resume_refuses_a_newer_checkpoint_and_leaves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``iguana resume`` of a newer checkpoint exits 8 with the one line and leaves the file
    as it was."""
    path = newer(tmp_path)
    before = path.read_bytes()
    assert main(["resume", "--sandbox", str(tmp_path)]) == ExitCode.CHECKPOINT
    err = capsys.readouterr().err
    assert f"schema {SCHEMA_VERSION + 1}" in err and "Traceback" not in err
    assert path.read_bytes() == before


def test_status_shows_what_it_knows_of_a_newer_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``iguana status`` of a newer checkpoint shows its state, job and error from the keys
    this version knows, says in one line on stderr why it is not all, and exits 8."""
    path = newer(tmp_path)
    assert main(["status", "--sandbox", str(tmp_path)]) == ExitCode.CHECKPOINT
    out, err = capsys.readouterr()
    assert "install" in out and "failed" in out
    assert err.count("\n") == 1 and str(path) in err
    assert f"schema {SCHEMA_VERSION + 1}" in err
    assert main(["status", "--format", "json", "--sandbox", str(tmp_path)]) == 8
    shown = json.loads(capsys.readouterr().out)
    assert "attestation" not in json.dumps(shown)
