"""``iguana logs``: the boot's log readable, filtered by job, state and level, or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iguana_fsm.cli import main
from iguana_fsm.errors import ExitCode
from tests.unit.boot_harness import Boot

WORKFLOW = """\
jobs:
  first:
    container: {image: registry.example/tools:1}
  broken:
    container: {image: registry.example/broken:1}
"""


@pytest.fixture
def failed(tmp_path: Path) -> Boot:
    """A batch boot whose second job prints two lines and fails."""
    boot = Boot(tmp_path, WORKFLOW)
    boot.engine.exit_codes["registry.example/broken:1"] = 3
    boot.engine.outputs["registry.example/broken:1"] = ["partitioning /dev/vdb", "no space"]
    assert boot.run() == ExitCode.JOB
    return boot


def logs(boot: Boot, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, list[str]]:
    """``iguana logs FLAGS``: exit code and stdout lines."""
    code = main(["logs", "--sandbox", str(boot.top), *flags])
    return code, capsys.readouterr().out.splitlines()


def test_readable_lines_name_state_and_job(
    failed: Boot, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every event is one line with its time, level, state, job and fields; a job's output is
    shown as its lines."""
    code, lines = logs(failed, capsys)
    assert code == 0
    assert any(" info    jobs        [broken] | no space" in line for line in lines), lines
    finished = [line for line in lines if "job.finished" in line and "[broken]" in line]
    assert len(finished) == 1 and "exit_code=3" in finished[0] and "status=failed" in finished[0]
    assert not [line for line in lines if "checkpoint.saved" in line]


def test_filter_by_job(failed: Boot, capsys: pytest.CaptureFixture[str]) -> None:
    """``--job`` keeps only the events of that job."""
    _, lines = logs(failed, capsys, "--job", "first")
    assert lines and all("[first]" in line for line in lines)


def test_filter_by_state_and_level(failed: Boot, capsys: pytest.CaptureFixture[str]) -> None:
    """``--state`` keeps what was logged in that state; ``--level`` sets the least level."""
    _, lines = logs(failed, capsys, "--state", "fetch")
    assert lines and all(" fetch " in line for line in lines)
    _, errors = logs(failed, capsys, "--level", "error")
    assert errors and all(" error " in line for line in errors)
    assert any("boot.failed" in line for line in errors)
    _, everything = logs(failed, capsys, "--level", "debug")
    assert any("checkpoint.saved" in line for line in everything)


def test_json_lines_are_the_logged_events(failed: Boot, capsys: pytest.CaptureFixture[str]) -> None:
    """``--format json`` (or ``--json``) prints each matching event as one JSON object with
    every field it was logged with, and the state it was logged in."""
    _, lines = logs(failed, capsys, "--json", "--job", "broken")
    events = [json.loads(line) for line in lines]
    started = next(event for event in events if event["event"] == "job.started")
    assert started["state"] == "jobs" and started["n"] == 2 and "env" in started
    _, same = logs(failed, capsys, "--format", "json", "--job", "broken")
    assert same == lines


def test_torn_line_is_left_out_and_counted(
    failed: Boot, capsys: pytest.CaptureFixture[str]
) -> None:
    """A last line cut short (power loss) is skipped and counted on stderr, not a traceback."""
    with failed.paths.log.open("a") as handle:
        handle.write('{"event": "job.sta')
    code = main(["logs", "--sandbox", str(failed.top)])
    captured = capsys.readouterr()
    assert code == 0 and "1 line(s) are not JSON events" in captured.err


def test_no_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a log: one line naming the file, exit 8."""
    assert main(["logs", "--sandbox", str(tmp_path)]) == ExitCode.CHECKPOINT
    assert "log.jsonl: no log" in capsys.readouterr().err
