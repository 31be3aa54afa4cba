"""The progress protocol of containers (iguana_fsm/progress.py): its lines, and following the
file while a job runs."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from iguana_fsm.console import Mode
from iguana_fsm.log import make_logger
from iguana_fsm.progress import JobProgress, Report, parse
from iguana_fsm.record import JobRecord


class TestParse:
    """One report a line."""

    @pytest.mark.parametrize(
        ("line", "report"),
        [
            ("42 copying files", Report(42.0, "copying files")),
            ("42% copying files", Report(42.0, "copying files")),
            ("  7.5%", Report(7.5, "")),
            ("3/4 installing packages", Report(75.0, "installing packages")),
            ("partitioning /dev/vda", Report(None, "partitioning /dev/vda")),
            ("250 blocks", Report(None, "250 blocks")),
            ("5/3 odd", Report(None, "5/3 odd")),
            ("1/0 odd", Report(None, "1/0 odd")),
            ("50 \x1b[2Jclear", Report(50.0, "[2Jclear")),
        ],
    )
    def test_lines(self, line: str, report: Report) -> None:
        """Percentages up to 100, steps N/M with N <= M, anything else a message."""
        assert parse(line) == report

    def test_blank_and_long(self) -> None:
        """A blank line is no report; a long message is cut to 200 characters."""
        assert parse("   ") is None
        report = parse("x" * 1000)
        assert report is not None and len(report.message) == 200


class TestFollow:
    """JobProgress while a job runs."""

    def test_reports_written_during_the_job(self, tmp_path: Path) -> None:
        """Lines the job appends are logged as job.progress, the last kept in its record; what
        was in the file before the job is not read again."""
        path = tmp_path / "progress"
        path.write_text("Running job old\n")
        console = io.StringIO()
        log = make_logger(tmp_path / "log.jsonl", console, Mode.QUIET)
        record = JobRecord()
        saves: list[str | None] = []
        follow = JobProgress(
            path,
            "install",
            {"n": 2, "of": 3},
            record,
            log,
            lambda: saves.append(record.progress),
            interval=0.01,
            save_every=0.0,
        )
        with follow, path.open("a") as handle:
            handle.write("10 starting\n3/4 almost")
            handle.flush()
            deadline = time.monotonic() + 30
            while "10% starting" not in console.getvalue() and time.monotonic() < deadline:
                time.sleep(0.01)
            handle.write(" there\n")
        assert record.progress == "75% almost there" and record.percent == 75.0
        assert "10% starting" in (saves[0] or "")
        lines = console.getvalue().splitlines()
        assert any("job 2/3 install 10% starting" in line for line in lines), lines
        assert "old" not in console.getvalue()

    def test_fifo_is_left_alone(self, tmp_path: Path) -> None:
        """A FIFO (plymouth's, or a container's) is never opened for reading."""
        path = tmp_path / "progress"
        os.mkfifo(path)
        record = JobRecord()
        log = make_logger(None, None)
        with JobProgress(path, "j", {}, record, log, lambda: None, interval=0.01):
            time.sleep(0.05)
        assert record.progress is None

    def test_heartbeat_says_the_job_runs(self, tmp_path: Path) -> None:
        """With no report for the heartbeat's seconds a line still shows the job runs."""
        console = io.StringIO()
        log = make_logger(None, console, Mode.NORMAL)
        with JobProgress(
            tmp_path / "none",
            "long",
            {"n": 1, "of": 1},
            JobRecord(),
            log,
            lambda: None,
            interval=0.01,
            heartbeat=0.02,
        ):
            deadline = time.monotonic() + 30
            while "running" not in console.getvalue() and time.monotonic() < deadline:
                time.sleep(0.01)
        assert "job 1/1 long running (" in console.getvalue()
