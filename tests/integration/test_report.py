"""rd.iguana.report=DEVICE on a real loop device: the record of a failed or finished boot is
left on the device before the (recorded) reboot, whatever the debug setting."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from iguana_fsm.stages import endings
from tests.unit.boot_harness import Boot
from tests.unit.test_runner import FAILING, TWO_JOBS, make_boot

pytestmark = pytest.mark.integration

LABEL = "IGREPORT"


@pytest.fixture
def report_disk(tmp_path: Path) -> Iterator[Path]:
    """An ext4 image labelled IGREPORT, attached to a loop device for the test."""
    yield from attached(tmp_path, None)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the report device with one file a planted link points at."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "state").write_text("not Iguana's\n")
    return directory


@pytest.fixture
def linked_report_disk(tmp_path: Path, outside: Path) -> Iterator[Path]:
    """A report image whose ``/iguana-report`` is a symbolic link to ``outside`` (absolute)."""
    tree = tmp_path / "tree-linked-dir"
    tree.mkdir()
    (tree / "iguana-report").symlink_to(outside)
    yield from attached(tmp_path, tree)


@pytest.fixture
def linked_file_report_disk(tmp_path: Path, outside: Path) -> Iterator[Path]:
    """A report image whose ``/iguana-report/state`` is a symbolic link to a file outside."""
    tree = tmp_path / "tree-linked-file"
    (tree / "iguana-report").mkdir(parents=True)
    (tree / "iguana-report" / "state").symlink_to(outside / "state")
    yield from attached(tmp_path, tree)


def attached(tmp_path: Path, tree: Path | None) -> Iterator[Path]:
    """Make the image (with ``tree`` copied in, links kept, by mkfs.ext4 -d) and attach it."""
    image = tmp_path / "report.img"
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    contents = ["-d", str(tree)] if tree is not None else []
    subprocess.run(["mkfs.ext4", "-q", "-L", LABEL, *contents, str(image)], check=True)
    loop = subprocess.run(
        ["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield image
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)


def read_back(image: Path, name: str, directory: str = "/iguana-report") -> str:
    """A file of ``directory`` on the image, read without mounting it."""
    result = subprocess.run(
        ["debugfs", "-R", f"cat {directory}/{name}", str(image)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def boot(tmp_path: Path, workflow: str, cmdline: str) -> Boot:
    made = make_boot(tmp_path, workflow)
    made.cmdline = cmdline
    return made


class TestReport:
    def test_failed_boot_leaves_its_record_before_rebooting(
        self, tmp_path: Path, report_disk: Path
    ) -> None:
        """Without debug the rescue reboots; the report device holds the failed state first."""
        failing = boot(tmp_path, FAILING, f"rd.iguana.report=LABEL={LABEL}")
        failing.engine.exit_codes["registry.example/broken:1"] = 3
        assert failing.run() == 6
        assert failing.host.actions[-1]["action"] == "reboot"
        state = json.loads(read_back(report_disk, "state"))
        assert state["state"] == "rescue" and state["failed_state"] == "jobs"
        assert state["error"]["job"] == "broken" and state["error"]["exit_code"] == 3
        assert state["rescue"]["action"] == "reboot"
        assert "boot.failed" in read_back(report_disk, "log.jsonl")
        assert "broken:" in read_back(report_disk, "workflow.redacted.yaml")

    def test_only_the_redacted_workflow_leaves_the_machine(
        self, tmp_path: Path, report_disk: Path
    ) -> None:
        """The report device gets the workflow with secret env values redacted (public ones
        kept), never the verbatim copy, which stays root-only in /iguana."""
        secret = "env:\n  TOKEN: hunter2-secret\n  SITE: lab\npublic-env: [SITE]\n"
        job_env = "    env: {PASSWORD: also-secret}\n"
        text = secret + FAILING.replace(
            "  broken:\n", "  broken:\n" + job_env.replace("    ", "    ", 1)
        )
        failing = boot(tmp_path, text, f"rd.iguana.report=LABEL={LABEL}")
        failing.engine.exit_codes["registry.example/broken:1"] = 3
        assert failing.run() == 6
        report = read_back(report_disk, "workflow.redacted.yaml")
        assert "hunter2" not in report and "also-secret" not in report
        assert "TOKEN: '***'" in report and "PASSWORD: '***'" in report and "SITE: lab" in report
        assert read_back(report_disk, "workflow.yaml") == ""
        for name in ("state", "log.jsonl"):
            assert "hunter2" not in read_back(report_disk, name)
        verbatim = failing.paths.workflow_copy
        assert "hunter2" in verbatim.read_text() and verbatim.stat().st_mode & 0o777 == 0o600

    def test_finished_boot_leaves_its_record(self, tmp_path: Path, report_disk: Path) -> None:
        """A boot that reaches its ending leaves the record naming that ending."""
        done = boot(tmp_path, TWO_JOBS, f"rd.iguana.report=LABEL={LABEL}")
        done.replace("switch_root", endings.switch_root)
        assert done.run() == 0
        state = json.loads(read_back(report_disk, "state"))
        assert state["state"] == "switch_root" and state["error"] is None

    def test_missing_report_device_is_a_warning(self, tmp_path: Path) -> None:
        """A report device that never appears is recorded as a warning; the outcome stands."""
        failing = boot(tmp_path, FAILING, "rd.iguana.report=LABEL=NOSUCHDISK")
        failing.engine.exit_codes["registry.example/broken:1"] = 3
        assert failing.run() == 6
        warnings = failing.record().warnings
        assert any("report LABEL=NOSUCHDISK: not saved" in warning for warning in warnings)


class TestPlantedLinks:
    def test_linked_report_directory_is_not_followed_out(
        self, tmp_path: Path, linked_report_disk: Path, outside: Path
    ) -> None:
        """An ``iguana-report`` link to an absolute path is resolved on the device itself:
        nothing is written outside it, and the record lands at that path on the device."""
        failing = boot(tmp_path, FAILING, f"rd.iguana.report=LABEL={LABEL}")
        failing.engine.exit_codes["registry.example/broken:1"] = 3
        assert failing.run() == 6
        assert sorted(p.name for p in outside.iterdir()) == ["state"]
        assert (outside / "state").read_text() == "not Iguana's\n"
        on_device = json.loads(read_back(linked_report_disk, "state", str(outside)))
        assert on_device["failed_state"] == "jobs"
        assert not any("not saved" in warning for warning in failing.record().warnings)

    def test_linked_report_file_is_replaced_not_written_through(
        self, tmp_path: Path, linked_file_report_disk: Path, outside: Path
    ) -> None:
        """A link at ``iguana-report/state`` to a file outside the device is replaced by the
        record; the file it pointed at is unchanged."""
        done = boot(tmp_path, TWO_JOBS, f"rd.iguana.report=LABEL={LABEL}")
        done.replace("switch_root", endings.switch_root)
        assert done.run() == 0
        assert (outside / "state").read_text() == "not Iguana's\n"
        state = json.loads(read_back(linked_file_report_disk, "state"))
        assert state["state"] == "switch_root"
        listing = subprocess.run(
            ["debugfs", "-R", "stat /iguana-report/state", str(linked_file_report_disk)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "Type: regular" in listing
