"""``iguana status`` by cloud-init's conventions (``cloud-init status --long --format json``):
the status word, errors, recoverable errors, last update, the running job."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm import status
from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.cli import main
from iguana_fsm.errors import ExitCode
from iguana_fsm.paths import Paths
from iguana_fsm.record import BootRecord, JobRecord, JobStatus
from tests.unit.boot_harness import Boot

WORKFLOW = """\
jobs:
  first:
    container: {image: registry.example/tools:1}
  second:
    continue-on-error: true
    container: {image: registry.example/broken:1}
  third:
    container: {image: registry.example/tools:1}
"""


def status_json(top: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, Any]:
    """``iguana status FLAGS --sandbox TOP``: its exit code and JSON document."""
    code = main(["status", *flags, "--sandbox", str(top)])
    return code, json.loads(capsys.readouterr().out)


class TestWords:
    """The status word of each kind of boot."""

    def test_clean_boot_is_done(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A boot that reached its ending with no problem: done, nothing in either list."""
        boot = Boot(tmp_path, WORKFLOW.replace("    continue-on-error: true\n", ""))
        assert boot.run() == 0
        code, data = status_json(tmp_path, capsys, "--format", "json")
        assert code == 0
        assert (data["status"], data["extended_status"]) == ("done", "done")
        assert data["errors"] == [] and data["recoverable_errors"] == {}

    def test_failed_continue_on_error_job_is_degraded(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A continue-on-error job that failed leaves the finished boot degraded, the job among
        the recoverable errors; the exit code stays 0 (the boot reached its ending)."""
        boot = Boot(tmp_path, WORKFLOW)
        boot.engine.exit_codes["registry.example/broken:1"] = 5
        assert boot.run() == 0
        code, data = status_json(tmp_path, capsys, "--json")
        assert code == 0
        assert (data["status"], data["extended_status"]) == ("degraded", "degraded done")
        assert data["recoverable_errors"] == {
            "WARNING": ["job second failed (continue-on-error): exited with code 5"]
        }

    def test_unknown_option_is_a_recoverable_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A misspelt ``rd.iguana.`` option shows among the recoverable errors, with the option
        it likely meant: a rescue operator sees why debug was not on."""
        boot = Boot(
            tmp_path, WORKFLOW.replace("    continue-on-error: true\n", ""), "rd.iguana.debgu=1"
        )
        assert boot.run() == 0
        _, data = status_json(tmp_path, capsys, "--json")
        assert data["status"] == "degraded"
        (warning,) = data["recoverable_errors"]["WARNING"]
        assert "rd.iguana.debgu" in warning and "rd.iguana.debug" in warning

    def test_failed_boot_is_an_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A failed job fails the boot: status error, the failure first among the errors."""
        boot = Boot(tmp_path, WORKFLOW.replace("    continue-on-error: true\n", ""))
        boot.engine.exit_codes["registry.example/broken:1"] = 5
        assert boot.run() == ExitCode.JOB
        code, data = status_json(tmp_path, capsys, "--json")
        assert code == ExitCode.JOB
        assert data["status"] == "error"
        assert data["errors"] == ["jobs: job second failed: exited with code 5"]

    def test_interrupted_boot_is_an_error_to_resume(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An interrupted boot is an error whose extended status says interrupted."""
        record = BootRecord(run_id="r" * 32, state="jobs")
        record.jobs["one"] = JobRecord(status=JobStatus.RUNNING, started=10.0, place=1)
        CheckpointStore(Paths.for_sandbox(tmp_path).state).save(record)
        code, data = status_json(tmp_path, capsys, "--json")
        assert code == ExitCode.INTERRUPTED
        assert (data["status"], data["extended_status"]) == ("error", "interrupted")
        assert "iguana resume" in data["errors"][0]

    def test_before_any_boot(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Before any boot, JSON too: not started, and the exit code of no checkpoint."""
        code, data = status_json(tmp_path, capsys, "--format", "json")
        assert code == ExitCode.CHECKPOINT
        assert data["status"] == "not started" and data["last_update"] is None


class TestFields:
    """The other fields cloud-init has, and the running job."""

    def test_last_update_is_rfc2822_utc(self) -> None:
        """last_update reads as cloud-init writes it and follows the record's latest time."""
        record = BootRecord(run_id="r", state="jobs", started=0.0)
        record.jobs["a"] = JobRecord(started=86400.0, finished=86401.0)
        assert status.rfc2822(status.last_update(record)) == "Fri, 02 Jan 1970 00:00:01 +0000"
        assert re.fullmatch(
            r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", status.rfc2822(time.time())
        )

    def test_running_job_shows_place_and_elapsed(self) -> None:
        """While a boot runs, its running job is named with "job N of M" and its seconds."""
        record = BootRecord(run_id="r" * 32, state="jobs", jobs_total=4)
        record.current_job = "install"
        record.jobs["install"] = JobRecord(status=JobStatus.RUNNING, started=100.0, place=2)
        assert status.current_job(record, now=112.0) == {
            "id": "install",
            "n": 2,
            "of": 4,
            "elapsed": 12.0,
            "progress": None,
        }
        record.jobs["install"].progress = "40% copying"
        record.jobs["install"].started = time.time() - 12
        text = status.describe(record, running=True)
        assert re.search(r"running:  install \(job 2 of 4\) for 1[23] s: 40% copying", text), text
        assert json.loads(status.as_json(record, True))["running_job"]["n"] == 2

    def test_jobs_record_their_place(self, tmp_path: Path) -> None:
        """Each job that ran records its place in run order, the record the number of jobs."""
        boot = Boot(tmp_path, WORKFLOW)
        boot.run()
        record = boot.record()
        assert record.jobs_total == 3
        assert [job.place for job in record.jobs.values()] == [1, 2, 3]
