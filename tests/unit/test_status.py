"""``iguana status`` by cloud-init's conventions (``cloud-init status --long --format json``):
the status word, errors, recoverable errors, last update, the running job."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm import status
from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.cli import main
from iguana_fsm.errors import ExitCode
from iguana_fsm.memory.budget import Budget
from iguana_fsm.paths import Paths
from iguana_fsm.record import BootRecord, JobRecord, JobStatus, to_plain
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
        assert (
            status.rfc2822(status.last_update(record.to_json()))
            == "Fri, 02 Jan 1970 00:00:01 +0000"
        )
        assert re.fullmatch(
            r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", status.rfc2822(time.time())
        )

    def test_running_job_shows_place_and_elapsed(self) -> None:
        """While a boot runs, its running job is named with "job N of M" and its seconds."""
        record = BootRecord(run_id="r" * 32, state="jobs", jobs_total=4)
        record.current_job = "install"
        record.jobs["install"] = JobRecord(status=JobStatus.RUNNING, started=100.0, place=2)
        assert status.current_job(record.to_json(), now=112.0) == {
            "id": "install",
            "n": 2,
            "of": 4,
            "elapsed": 12.0,
            "progress": None,
        }
        record.jobs["install"].progress = "40% copying"
        record.jobs["install"].started = time.time() - 12
        text = status.describe(record.to_json(), running=True)
        assert re.search(r"running:  install \(job 2 of 4\) for 1[23] s: 40% copying", text), text
        assert json.loads(status.as_json(record.to_json(), True))["running_job"]["n"] == 2

    def test_jobs_record_their_place(self, tmp_path: Path) -> None:
        """Each job that ran records its place in run order, the record the number of jobs."""
        boot = Boot(tmp_path, WORKFLOW)
        boot.run()
        record = boot.record()
        assert record.jobs_total == 3
        assert [job.place for job in record.jobs.values()] == [1, 2, 3]


class TestOneReader:
    """``status`` reads the checkpoint through ``CheckpointStore.load`` alone: a current
    checkpoint shows as it was written, and one the record model does not take gives the one
    line and exit code of the README's failure table (8, naming the file and the key)."""

    @pytest.mark.parametrize(
        ("continued", "exit_code", "cmdline"),
        [(False, 0, ""), (True, 5, ""), (False, 5, ""), (False, 0, "rd.iguana.debgu=1")],
        ids=["done", "degraded", "failed", "warned"],
    )
    def test_json_holds_the_checkpoint_as_written(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        continued: bool,
        exit_code: int,
        cmdline: str,
    ) -> None:
        """``status --json`` of a finished, degraded, failed or warned boot holds every key of
        the checkpoint file with the value written there, beside cloud-init's fields."""
        workflow = WORKFLOW if continued else WORKFLOW.replace("    continue-on-error: true\n", "")
        boot = Boot(tmp_path, workflow, cmdline)
        boot.engine.exit_codes["registry.example/broken:1"] = exit_code
        boot.run()
        written = json.loads(boot.paths.state.read_text(encoding="utf-8"))
        code, shown = status_json(tmp_path, capsys, "--json")
        assert {key: shown[key] for key in written} == written
        assert code == (ExitCode.JOB if exit_code and not continued else ExitCode.OK)

    def test_a_failed_then_resumed_boot_with_every_flag(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A boot whose job failed reads as failed with the job's exit code (6) in text,
        ``--json``, ``--timings`` and ``--wait``; resumed to its ending it reads as done (0) in
        each, with the resumed run's states among the timings."""
        workflow = WORKFLOW.replace("    continue-on-error: true\n", "")
        boot = Boot(tmp_path, workflow)
        boot.engine.exit_codes["registry.example/broken:1"] = 5
        assert boot.run() == ExitCode.JOB
        for expected, word in ((ExitCode.JOB, "error"), (ExitCode.OK, "done")):
            for flags in ((), ("--timings",), ("--wait", "--timeout", "5")):
                assert main(["status", *flags, "--sandbox", str(tmp_path)]) == expected, flags
                out = capsys.readouterr().out
                assert f"status:   {word}" in out and "second" in out
                assert ("seconds by state" in out) == ("--timings" in flags), flags
            code, shown = status_json(tmp_path, capsys, "--json")
            assert (code, shown["status"]) == (expected, word)
            boot.engine.exit_codes.clear()
            if expected == ExitCode.JOB:
                assert boot.resume() == ExitCode.OK
        assert shown["timings"]["states"]["jobs"] > 0

    @pytest.mark.parametrize(
        ("name", "spoil", "named"),
        [
            ("unknown job field", lambda data: data["jobs"]["first"].update(colour=1), "colour"),
            ("unknown state", lambda data: data.update(state="limbo"), "limbo"),
            ("unknown failed state", lambda data: data.update(failed_state="limbo"), "limbo"),
            ("current job not a job", lambda data: data.update(current_job="nobody"), "nobody"),
            (
                "string exit code",
                lambda data: data["jobs"]["first"].update(exit_code="0"),
                "exit_code",
            ),
            ("bool as int", lambda data: data["jobs"]["first"].update(exit_code=True), "exit_code"),
            ("job status", lambda data: data["jobs"]["first"].update(status="happy"), "happy"),
            ("no object", lambda data: data.update(memory=[]), "memory"),
            ("required field missing", lambda data: data.pop("run_id"), "run_id"),
            (
                "error code unknown",
                lambda data: data.update(error={"state": None, "message": "x", "code": 99}),
                "99",
            ),
        ],
    )
    def test_a_checkpoint_the_model_refuses_is_one_line_and_8(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        name: str,
        spoil: Callable[[dict[str, Any]], object],
        named: str,
    ) -> None:
        """A checkpoint with a key, a type, a state or a required field the record model does
        not take: ``status`` (text and JSON) exits 8 with one line naming the file and the
        fault, prints nothing on stdout, and leaves the file as it was."""
        boot = Boot(tmp_path, WORKFLOW)
        boot.run()
        data = json.loads(boot.paths.state.read_text(encoding="utf-8"))
        spoil(data)
        boot.paths.state.write_text(json.dumps(data), encoding="utf-8")
        before = boot.paths.state.read_bytes()
        for flags in ((), ("--json",)):
            assert main(["status", *flags, "--sandbox", str(tmp_path)]) == ExitCode.CHECKPOINT
            out, err = capsys.readouterr()
            assert out == "" and err.count("\n") == 1, name
            assert str(boot.paths.state) in err and named in err, err
        assert boot.paths.state.read_bytes() == before

    @pytest.mark.parametrize(
        ("name", "content", "named"),
        [
            ("not JSON", b"{", "not valid JSON"),
            ("not UTF-8", b"{\xff}", "UTF-8"),
            ("a list", b"[]", "JSON object"),
        ],
    )
    def test_a_damaged_checkpoint_is_one_line_and_8(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        name: str,
        content: bytes,
        named: str,
    ) -> None:
        """A checkpoint cut short, not UTF-8 or not an object: exit 8, one line naming the
        file and what is wrong with it."""
        Boot(tmp_path, WORKFLOW).run()
        state = Paths.for_sandbox(tmp_path).state
        state.write_bytes(content)
        assert main(["status", "--sandbox", str(tmp_path)]) == ExitCode.CHECKPOINT
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and str(state) in err and named in err, name

    def test_a_field_with_a_default_may_be_missing(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A field that has a default may be missing (a checkpoint written before the field
        came, within its schema): it reads as that default, and a whole number where a time
        belongs reads as that time."""
        boot = Boot(tmp_path, WORKFLOW.replace("    continue-on-error: true\n", ""))
        boot.run()
        data = json.loads(boot.paths.state.read_text(encoding="utf-8"))
        for name in ("warnings", "timings", "jobs_total"):
            data.pop(name)
        data["started"] = int(data["started"])
        boot.paths.state.write_text(json.dumps(data), encoding="utf-8")
        code, shown = status_json(tmp_path, capsys, "--json")
        assert code == ExitCode.OK and shown["status"] == "done"
        assert (shown["warnings"], shown["jobs_total"]) == ([], None)
        assert shown["timings"] == {"states": {}, "jobs": {}, "pulls": {}, "engine": {}}
        assert shown["started"] == float(data["started"]) and isinstance(shown["started"], float)

    @pytest.mark.parametrize(
        "fields",
        [
            {"mem_available": None, "reserve": 0},
            {"mem_available": 100, "reserve": 128},
            {"mem_available": 1000, "reserve": 128, "limit": 500},
            {"mem_available": 1000, "reserve": 128, "limit": 5000, "storage_free": 700},
            {"mem_available": None, "reserve": 128, "storage_free": 700, "tmp_free": 1},
        ],
    )
    def test_budget_bytes_is_the_models(self, fields: dict[str, Any]) -> None:
        """budget_bytes of a budget's JSON form is Budget.bytes of the budget."""
        budget = Budget(**fields)
        assert status.budget_bytes(to_plain(budget)) == budget.bytes
