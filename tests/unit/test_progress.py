"""The progress protocol of containers (iguana_fsm/progress.py): its lines, and following the
file while a job runs."""

from __future__ import annotations

import io
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.console import Mode
from iguana_fsm.engine.base import RemoteImage
from iguana_fsm.engine.pullmeter import PullMeter, to_download
from iguana_fsm.log import Progress, make_logger
from iguana_fsm.progress import JobProgress, Plymouth, Report, parse
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

    @pytest.mark.parametrize("link", ["symbolic", "hard"])
    def test_a_link_to_another_file_is_not_read(self, tmp_path: Path, link: str) -> None:
        """A progress name a container turned into a link (symbolic or hard) to a file elsewhere
        is not read: none of that file's lines reach the log or the record."""
        secret = tmp_path / "host" / "shadow"
        secret.parent.mkdir()
        secret.write_text("")
        shared = tmp_path / "iguana"
        shared.mkdir()
        path = shared / "progress"
        console = io.StringIO()
        log = make_logger(tmp_path / "log.jsonl", console, Mode.DEBUG)
        record = JobRecord()
        with JobProgress(path, "j", {}, record, log, lambda: None, interval=0.01):
            if link == "symbolic":
                path.symlink_to(secret)
            else:
                os.link(secret, path)
            with secret.open("a") as handle:
                handle.write("50 root:SECRET-HASH:19000\n")
            time.sleep(0.2)
        assert record.progress is None
        assert "SECRET" not in console.getvalue()
        assert "SECRET" not in (tmp_path / "log.jsonl").read_text()

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


TABLE_HEAD = "Num       RefCount Protocol Flags    Type St Inode Path\n"
"""The first line of /proc/net/unix."""


def socket_line(name: str) -> str:
    """A listening socket's line of /proc/net/unix, named ``name`` (``@``: abstract)."""
    return f"0000000000000000: 00000002 00000000 00010000 0001 01 6257304 {name}\n"


class TestPlymouthFind:
    @pytest.fixture
    def plymouth(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """A ``plymouth`` on PATH that answers --ping and notes each time it runs (in
        ``ran``), and a socket table of the test's own; returns the table."""
        binary = tmp_path / "bin" / "plymouth"
        binary.parent.mkdir()
        binary.write_text(f'#!/bin/sh\necho "$*" >>{tmp_path / "ran"}\n')
        binary.chmod(0o755)
        monkeypatch.setenv("PATH", str(binary.parent))
        table = tmp_path / "unix"
        monkeypatch.setattr(Plymouth, "SOCKETS", table)
        return table

    def test_no_daemon_socket_listed_runs_no_plymouth(self, plymouth: Path, tmp_path: Path) -> None:
        """Without plymouthd's socket in the table (a socket of another name, or a path that
        only contains the name, do not count), no plymouth is found and none is run."""
        plymouth.write_text(
            TABLE_HEAD
            + socket_line("@/org/freedesktop/systemd1/notify")
            + socket_line("/run/x/@/org/freedesktop/plymouthd")
            + "0000000000000000: 00000003 00000000 00000000 0001 03 6257305\n"
        )
        assert Plymouth.find() is None
        assert not (tmp_path / "ran").exists()

    @pytest.mark.parametrize("name", Plymouth.NAMES)
    def test_a_listed_daemon_is_pinged(self, plymouth: Path, tmp_path: Path, name: str) -> None:
        """With plymouthd's socket listed (today's name or the older one), plymouth --ping
        decides."""
        plymouth.write_text(TABLE_HEAD + socket_line(name))
        assert Plymouth.find() is not None
        assert (tmp_path / "ran").read_text() == "--ping\n"

    def test_an_unreadable_table_leaves_it_to_the_ping(
        self, plymouth: Path, tmp_path: Path
    ) -> None:
        """Where the table cannot be read, plymouth --ping decides as before."""
        assert Plymouth.find() is not None
        assert (tmp_path / "ran").read_text() == "--ping\n"


class TestPullMeter:
    """Bytes of a pull, from the blob files the podman service has open."""

    @staticmethod
    def _pull_of_five_kb(
        tmp_path: Path, image: str, total: int | None = None, other: Path | None = None
    ) -> list[dict[str, Any]]:
        """The events of a meter on a podman service (a fake /proc, pid 4242) that writes a
        blob of 5,000 bytes in five steps, holding ``other`` open beside it; ``total``: the
        bytes the plan expects."""
        blob_dir = tmp_path / "var-tmp" / "storage123"
        blob_dir.mkdir(parents=True)
        fds = tmp_path / "proc" / "4242" / "fd"
        fds.mkdir(parents=True)
        pid_file = tmp_path / "podman.pid"
        pid_file.write_text("4242\n")
        log_file = tmp_path / "log.jsonl"
        meter = PullMeter(
            pid_file,
            image,
            make_logger(log_file, None),
            interval=0.01,
            proc=tmp_path / "proc",
            total=total,
        )
        blob = blob_dir / "1"
        with meter, blob.open("wb") as handle:
            (fds / "7").symlink_to(blob)
            if other is not None:
                (fds / "8").symlink_to(other)
            for _ in range(5):
                handle.write(b"y" * 1000)
                handle.flush()
                time.sleep(0.05)
        return [json.loads(line) for line in log_file.read_text().splitlines()]

    def test_growing_blob_is_measured_and_the_end_reported(self, tmp_path: Path) -> None:
        """A blob the service writes gives pull.progress events with rising byte counts; a
        file it does not hold open is not counted; the final event has the total."""
        other = tmp_path / "var-tmp" / "other"
        other.parent.mkdir(parents=True)
        other.write_bytes(b"x" * 5000)
        events = self._pull_of_five_kb(tmp_path, "reg:5000/a/tools:1", other=other)
        done = [event["done"] for event in events if not event["final"]]
        assert done == sorted(done) and 0 < done[-1] <= 5000, done
        final = events[-1]
        assert final["final"] and final["done"] == final["total"] == 5000

    def test_total_gives_percent_and_time_left(self, tmp_path: Path) -> None:
        """With the bytes to download known, each event carries the total, a rising percentage
        and the seconds left at the average rate; the final one says all of it came, also the
        bytes no sample caught (a blob stored and closed between two samples)."""
        events = self._pull_of_five_kb(tmp_path, "tools", total=10_000)
        running = [event for event in events if not event["final"] and event["done"]]
        assert running and all(event["total"] == 10_000 for event in running)
        percents = [event["percent"] for event in running]
        assert percents == sorted(percents) and 0 < percents[-1] <= 50, percents
        assert all(event["eta"] is not None and event["eta"] > 0 for event in running)
        last = running[-1]
        expected = (10_000 - last["done"]) / (last["done"] / last["seconds"])
        assert abs(last["eta"] - expected) <= max(1.0, expected * 0.2), last
        final = events[-1]
        assert final["final"] and final["done"] == final["total"] == 10_000
        assert final["percent"] == 100.0 and final["eta"] == 0.0

    def test_to_download_counts_each_missing_layer_once(self) -> None:
        """The total is the config plus each distinct layer of the manifest that storage does
        not hold; unknown without the manifest's layers."""
        layers = (("sha256:a", 100), ("sha256:b", 20), ("sha256:a", 100), ("sha256:c", 3))
        image = RemoteImage("r/x:1", "sha256:m", 0, 0, 4, layers, 7)
        assert to_download(image, set()) == 7 + 100 + 20 + 3
        assert to_download(image, {"sha256:a", "sha256:c"}) == 7 + 20
        assert to_download(RemoteImage("r/x:1", "sha256:m", 0, 0, 0), set()) is None

    def test_quick_pull_says_nothing(self, tmp_path: Path) -> None:
        """A pull over before the first interval logs no progress at all; without the
        service's pid nothing is measured."""
        log_file = tmp_path / "log.jsonl"
        pid_file = tmp_path / "podman.pid"
        pid_file.write_text(f"{os.getpid()}\n")
        meter = PullMeter(pid_file, "tools", make_logger(log_file, None), interval=60)
        assert list(meter.follow(iter([1, 2]))) == [1, 2]
        assert not log_file.exists() or log_file.read_text() == ""
        gone = PullMeter(tmp_path / "none", "tools", make_logger(log_file, None), interval=0.01)
        assert list(gone.follow(iter([3]))) == [3]


class TestWriter:
    """Iguana's own lines to /iguana/progress (iguana_fsm.log.Progress)."""

    def test_appends_to_a_file_of_its_own(self, tmp_path: Path) -> None:
        """A plain file (or none yet) gets one line a message."""
        path = tmp_path / "progress"
        Progress(path)("Running job a")
        Progress(path)("Running job\nb")
        assert path.read_text() == "Running job a\nRunning job b\n"

    @pytest.mark.parametrize("link", ["symbolic", "hard"])
    def test_never_writes_through_a_link(self, tmp_path: Path, link: str) -> None:
        """A progress name that links to a file elsewhere leaves that file untouched."""
        target = tmp_path / "host-file"
        target.write_text("host\n")
        path = tmp_path / "iguana" / "progress"
        path.parent.mkdir()
        if link == "symbolic":
            path.symlink_to(target)
        else:
            os.link(target, path)
        Progress(path)("Running job a")
        assert target.read_text() == "host\n"

    def test_a_fifo_without_reader_does_not_block(self, tmp_path: Path) -> None:
        """A FIFO nobody reads drops the message instead of stopping the boot."""
        path = tmp_path / "progress"
        os.mkfifo(path)
        Progress(path)("Running job a")
        assert stat.S_ISFIFO(os.lstat(path).st_mode)
