"""The iguana command: one line per error, documented exit codes, nothing touched by a dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iguana_fsm.checkpoint import BootRecord, CheckpointStore, JobRecord
from iguana_fsm.cli import main
from iguana_fsm.errors import ExitCode
from iguana_fsm.paths import Paths
from iguana_fsm.record import JobStatus, Rescue, RescueAction

WORKFLOW = """\
name: cli
env: {TOKEN: secret-value}
jobs:
  one:
    container: {image: registry.example/one:1}
  two:
    needs: one
    container: {image: registry.example/two:1}
"""


def dry_run(tmp_path: Path, text: str, box: Path, *extra: str) -> int:
    """`iguana run --dry-run` (no registry lookups) of workflow ``text`` in sandbox ``box``."""
    workflow = tmp_path / "w.yaml"
    workflow.write_text(text)
    argv = ["run", "--dry-run", "--no-registry", "--sandbox", str(box), "--workflow", str(workflow)]
    return main([*argv, *extra])


class TestDryRun:
    def test_dry_run_prints_the_plan_and_touches_nothing(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--dry-run shows order, images and the ending, and creates nothing in the sandbox."""
        box = tmp_path / "box"
        code = dry_run(tmp_path, WORKFLOW, box)
        out = capsys.readouterr().out
        assert code == 0
        assert "run order: one, two" in out
        assert "registry.example/two:1" in out
        assert "hand-off" in out
        assert "secret-value" not in out
        assert not box.exists()

    def test_dry_run_of_invalid_workflow_is_one_line_per_problem(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An invalid workflow fails the dry run with exit 2 and no traceback."""
        code = dry_run(tmp_path, "jobs:\n  one:\n    contaner: {image: x}\n", tmp_path)
        err = capsys.readouterr().err
        assert code == 2
        lines = err.splitlines()
        assert len(lines) == 2
        assert lines[0].endswith("w.yaml:2:3: jobs.one.container: required key is missing")
        assert lines[1].endswith(
            "w.yaml:3:5: jobs.one.contaner: unknown key; did you mean 'container'?"
        )

    def test_dry_run_shows_unknown_options_and_checks_the_allow_list(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The dry run prints the unknown-option warnings and each image's allow-list verdict
        that the boot would log; unknown options are warnings, not errors."""
        cmdline = "rd.iguana.debgu rd.iguana.registries=registry.example"
        code = dry_run(tmp_path, WORKFLOW, tmp_path / "box", "--cmdline", cmdline)
        out = capsys.readouterr().out
        assert code == 0
        assert (
            "warning: unknown kernel option rd.iguana.debgu, ignored; did you mean "
            "rd.iguana.debug?" in out
        )
        assert "images checked (allowed by rd.iguana.registries):" in out
        assert "  registry.example/one:1: scope registry.example" in out

    def test_dry_run_refuses_an_image_the_allow_list_refuses(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An image outside the allow-list ends the dry run as it would end the boot (exit 4)."""
        code = dry_run(
            tmp_path, WORKFLOW, tmp_path / "box", "--cmdline", "rd.iguana.registries=other.example"
        )
        err = capsys.readouterr().err
        assert code == ExitCode.TRUST, err
        assert "registry.example/one:1" in err and "not allowed" in err


class TestErrors:
    def test_missing_workflow_file_is_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A workflow path that does not exist ends the boot in fetch with exit 3."""
        box = tmp_path / "box"
        code = main(["run", "--batch", "--sandbox", str(box), "--workflow", str(tmp_path / "no")])
        err = capsys.readouterr().err
        assert code == 3, err
        assert "Traceback" not in err
        record = CheckpointStore(Paths.for_sandbox(box).state).load()
        assert record.failed_state == "fetch" and record.state == "rescue"

    def test_unknown_options_are_kept_in_the_checkpoint(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unknown rd.iguana. option is a warning of the boot record, with its suggestion."""
        box = tmp_path / "box"
        cmdline = f"rd.iguana.control_urll=x rd.iguana.control_url={tmp_path / 'no'}"
        main(["run", "--batch", "--sandbox", str(box), "--cmdline", cmdline])
        capsys.readouterr()
        record = CheckpointStore(Paths.for_sandbox(box).state).load()
        assert record.warnings[0] == (
            "unknown kernel option rd.iguana.control_urll, ignored; "
            "did you mean rd.iguana.control_url?"
        )

    def test_bad_kernel_option_value_fails_the_boot_in_locate(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A malformed rd.iguana option fails a recorded boot in locate, naming the option;
        the options that were fine (here debug) still apply to the rescue."""
        cmdline = "rd.iguana.debug rd.iguana.fetch_timeout=soon"
        code = main(["run", "--batch", "--sandbox", str(tmp_path), "--cmdline", cmdline])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err
        record = CheckpointStore(Paths.for_sandbox(tmp_path).state).load()
        assert record.failed_state == "locate"
        assert record.error is not None
        assert "rd.iguana.fetch_timeout=soon" in record.error.message
        assert record.rescue == Rescue(RescueAction.EMERGENCY_SHELL)

    def test_status_without_checkpoint(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """status with no checkpoint says so in one line and exits 8."""
        assert main(["status", "--sandbox", str(tmp_path)]) == 8
        assert "no checkpoint" in capsys.readouterr().err

    def test_status_of_broken_checkpoint_names_file_and_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A corrupt checkpoint is reported with its path and position, exit 8."""
        paths = Paths.for_sandbox(tmp_path)
        paths.iguana.mkdir(parents=True)
        paths.state.write_text('{"schema": 1,\n  "state": ')
        assert main(["status", "--sandbox", str(tmp_path)]) == 8
        err = capsys.readouterr().err
        assert f"{paths.state}:2:" in err and "not valid JSON" in err

    def test_invalid_workflow_in_a_boot_lists_every_problem(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A boot whose workflow is invalid fails in fetch; the banner lists each problem."""
        workflow = tmp_path / "w.yaml"
        workflow.write_text("jobs:\n  one:\n    contaner: {image: x}\n    need: two\n")
        box = tmp_path / "box"
        assert main(["run", "--batch", "--sandbox", str(box), "--workflow", str(workflow)]) == 2
        err = capsys.readouterr().err
        assert "reason:     the workflow has 3 problems" in err
        flat = " ".join(err.split())
        assert "jobs.one.need: unknown key; did you mean 'needs'?" in flat

    def test_a_bug_prints_one_line_naming_its_traceback_file(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unexpected exception is one line on stderr; the traceback is in the file named."""
        from iguana_fsm import diagram

        def broken(fmt: str) -> str:
            raise KeyError("boom")

        monkeypatch.setattr(diagram, "render", broken)
        assert main(["diagram"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "internal error: KeyError" in err
        crash = Path(err.rsplit("(traceback: ", 1)[1].rstrip(")"))
        try:
            assert "Traceback" in crash.read_text() and "broken" in crash.read_text()
        finally:
            crash.unlink()


class TestStatus:
    def interrupted(self, top: Path) -> Paths:
        paths = Paths.for_sandbox(top)
        record = BootRecord(run_id="r" * 32, state="jobs", workflow_source="w.yaml")
        record.jobs["one"] = JobRecord(
            status=JobStatus.SUCCEEDED, exit_code=0, started=1.0, finished=3.5
        )
        record.jobs["two"] = JobRecord(status="running", started=4.0)
        CheckpointStore(paths.state).save(record)
        return paths

    def test_interrupted_boot(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A boot whose state is a work state and that nobody runs is interrupted: exit 12."""
        self.interrupted(tmp_path)
        assert main(["status", "--sandbox", str(tmp_path)]) == ExitCode.INTERRUPTED
        out = capsys.readouterr().out
        assert "state:    jobs (interrupted: `iguana resume` continues it)" in out
        assert "one" in out and "2.5s" in out

    def test_json(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--json prints the checkpoint with running and the status code."""
        self.interrupted(tmp_path)
        main(["status", "--json", "--sandbox", str(tmp_path)])
        data = json.loads(capsys.readouterr().out)
        assert data["state"] == "jobs" and data["running"] is False
        assert data["status_code"] == ExitCode.INTERRUPTED
        assert list(data["jobs"]) == ["one", "two"]

    def test_wait_returns_at_once_when_nothing_runs(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--wait does not block on a boot that nobody is running."""
        self.interrupted(tmp_path)
        assert main(["status", "--wait", "--timeout", "5", "--sandbox", str(tmp_path)]) == 12


class TestDiagram:
    @pytest.mark.parametrize(("fmt", "start"), [("mermaid", "---"), ("dot", "digraph")])
    def test_formats(self, fmt: str, start: str, capsys: pytest.CaptureFixture[str]) -> None:
        """diagram prints mermaid or DOT text naming the endings."""
        assert main(["diagram", "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert out.startswith(start) and "switch_root" in out and "kexec_failed" in out


def _into_closed_pipe(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``iguana ARGV`` (a real process) with stdout a pipe whose reader is already gone."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, "-m", "iguana_fsm", *argv],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(writer)


class TestClosedStdout:
    def test_status_ends_with_its_own_code(self, tmp_path: Path) -> None:
        """`iguana status | head -1`: a reader gone early is no error; the code is status's."""
        TestStatus().interrupted(tmp_path)
        done = _into_closed_pipe("status", "--sandbox", str(tmp_path))
        assert (done.returncode, done.stderr) == (ExitCode.INTERRUPTED, "")

    @pytest.mark.parametrize(
        "argv", [("schema",), ("diagram",), ("--help",), ("status", "--json", "--help")]
    )
    def test_other_verbs_end_normally(self, argv: tuple[str, ...]) -> None:
        """Every verb that prints ends with exit 0 and nothing on stderr when stdout is closed."""
        done = _into_closed_pipe(*argv)
        assert (done.returncode, done.stderr) == (0, "")

    def test_validate_keeps_its_verdict(self, tmp_path: Path) -> None:
        """An invalid workflow still exits 2 when nobody reads the problems."""
        workflow = tmp_path / "w.yaml"
        workflow.write_text("jobs:\n  one:\n    contaner: {image: x}\n")
        done = _into_closed_pipe("validate", str(workflow))
        assert (done.returncode, done.stderr) == (ExitCode.USAGE, "")

    def test_closed_stdout_is_no_error_either(self, tmp_path: Path) -> None:
        """Started with stdout closed (``iguana schema >&-``), a verb still ends normally."""
        done = subprocess.run(
            [sys.executable, "-m", "iguana_fsm", "schema"],
            preexec_fn=lambda: os.close(1),
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
        assert (done.returncode, done.stderr) == (0, "")
