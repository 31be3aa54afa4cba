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
    image = tmp_path / "report.img"
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-L", LABEL, str(image)], check=True)
    loop = subprocess.run(
        ["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield image
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)


def read_back(image: Path, name: str) -> str:
    """A file of /iguana-report on the image, read without mounting it."""
    result = subprocess.run(
        ["debugfs", "-R", f"cat /iguana-report/{name}", str(image)],
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
        assert state["details"]["rescue"]["action"] == "reboot"
        assert "boot.failed" in read_back(report_disk, "log.jsonl")
        assert "broken:" in read_back(report_disk, "workflow.yaml")

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
