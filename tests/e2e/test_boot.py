"""The initrd built from dracut/ boots a real Debian kernel under QEMU and does its job.

Disks: vda the image source (registry store and workflows, rd.iguana.images=), vdb the install
target, vdc the report device (rd.iguana.report=). Everything is read back with debugfs.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import bootkit

pytestmark = pytest.mark.e2e

COMMON = (
    f"console=ttyS0 root=iguana panic=1 rd.shell=0 rd.iguana.images=LABEL={bootkit.SOURCE_LABEL} "
)
FIGURES = bootkit.FIGURES_DIR / "figures.json"


def _uptime(console: str, pattern: str) -> float:
    found = re.search(pattern + r".*?uptime ([0-9.]+) s", console)
    assert found, f"no {pattern!r} with an uptime on the console:\n{console[-3000:]}"
    return float(found.group(1))


def _record_figures(**figures: Any) -> None:
    """Keep the measured figures for the README (build/e2e/figures.json)."""
    known = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    known.update(figures)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")


def test_systemd_boot_installs_and_switches_root(
    tmp_path: Path, kernel: bootkit.Kernel, systemd_initrd: Path, source_tree: Path
) -> None:
    """Two jobs partition vdb, unpack a root and write the mountlist; Iguana mounts it, the
    initrd switches into it, and the installed disk keeps a checkpoint with every state passed."""
    source = bootkit.ext4_image(tmp_path / "source.img", 64, bootkit.SOURCE_LABEL, source_tree)
    target = bootkit.blank_image(tmp_path / "target.img", 64)
    cmdline = COMMON + "rd.iguana.control_url=/run/iguana/images/install.yaml"

    result = bootkit.boot(
        kernel, systemd_initrd, [source, target], cmdline, tmp_path / "serial.log"
    )

    assert result.returncode == 0, f"qemu ended with {result.returncode}:\n{result.console[-4000:]}"
    assert bootkit.MARKER in result.console, result.console[-4000:]
    offset = bootkit.partition_offset(target, 1)
    assert bootkit.list_dir(target, "/var/log/iguana", offset) == ["log.jsonl", "state"]
    record = json.loads(bootkit.read_file(target, "/var/log/iguana/state", offset))
    assert record["state"] == "switch_root"
    assert record["error"] is None
    assert [step["dest"] for step in record["history"]] == [
        "fetch", "verify", "services", "jobs", "services", "jobs", "mount", "switch_root"
    ]  # fmt: skip
    assert {name: job["status"] for name, job in record["jobs"].items()} == {
        "partition": "succeeded",
        "mountlist": "succeeded",
    }
    assert record["handoff"]["action"] == "switch_root"

    installed = _uptime(result.console, re.escape(bootkit.MARKER))
    started = _uptime(result.console, "iguana: starting")
    finished = _uptime(result.console, "iguana: finished with exit code 0")
    in_jobs = sum(job["finished"] - job["started"] for job in record["jobs"].values())
    _record_figures(
        boot_seconds_to_installed_init=installed,
        boot_seconds_to_iguana=started,
        iguana_seconds=round(finished - started, 2),
        iguana_seconds_outside_jobs=round(finished - started - in_jobs, 2),
        qemu_wall_seconds=round(result.seconds, 1),
        boot_memory_mode=record["memory"]["mode"],
        boot_lowest_mem_available_mib=round(
            min(step["mem_available"] or 2**50 for step in record["history"]) / 2**20, 1
        ),
        boot_job_peaks_mib={
            name: None if job["peak_memory"] is None else round(job["peak_memory"] / 2**20, 1)
            for name, job in record["jobs"].items()
        },
    )


def test_hook_boot_failure_is_reported(
    tmp_path: Path, kernel: bootkit.Kernel, shell_initrd: Path, source_tree: Path
) -> None:
    """In an initrd without systemd a failing job shows the failure banner once, its reason, job,
    exit code and next step on the last 25 lines of the serial console; then, without debug,
    Iguana leaves the checkpoint (failed state, job, reason) and the log on the report device
    itself before it reboots the machine."""
    source = bootkit.ext4_image(tmp_path / "source.img", 64, bootkit.SOURCE_LABEL, source_tree)
    target = bootkit.blank_image(tmp_path / "target.img", 64)
    report = bootkit.ext4_image(tmp_path / "report.img", 16, bootkit.REPORT_LABEL)
    cmdline = COMMON + (
        "rd.iguana.reboot_delay=1 rd.iguana.control_url=/run/iguana/images/fail.yaml "
        f"rd.iguana.report=LABEL={bootkit.REPORT_LABEL}"
    )

    result = bootkit.boot(
        kernel, shell_initrd, [source, target, report], cmdline, tmp_path / "serial.log"
    )

    console = result.console
    assert console.count("IGUANA BOOT FAILED") == 1, console[-4000:]
    assert "e2e: this job fails on purpose" in console
    assert "report saved on" in console and "rebooting in 1.0 s" in console
    # what an 80x25 screen shows at the end: the banner's reason, job, code and next step
    screen = [line for line in console.splitlines() if line.strip()][-25:]
    shown = "\n".join(screen)
    assert "reason:     job fail failed: exited with code 3" in shown, shown
    assert "job:        fail, exit code 3" in shown, shown
    assert "exit code:  6 (a job failed) in state jobs" in shown, shown
    assert "checkpoint: /iguana/state" in shown and "next:       fix the cause" in shown, shown
    assert bootkit.MARKER not in console
    record = json.loads(bootkit.read_file(report, "/iguana-report/state"))
    assert record["failed_state"] == "jobs"
    assert record["error"]["job"] == "fail"
    assert record["error"]["exit_code"] == 3
    assert record["error"]["message"] == "job fail failed: exited with code 3"
    assert record["jobs"]["fail"]["status"] == "failed"
    assert record["rescue"] == {"action": "reboot", "delay": 1.0}
    events = [
        json.loads(line)
        for line in bootkit.read_file(report, "/iguana-report/log.jsonl").splitlines()
        if line.strip()
    ]
    assert any(event.get("event") == "state.failed" for event in events)


def test_initrd_size_over_podman_only(systemd_initrd: Path, podman_only_initrd: Path) -> None:
    """Iguana (Python, its modules, the scripts and the offline registry) adds a bounded amount
    to a podman-only initrd and carries no Python test suites, ensurepip, tkinter or idle."""
    listing = subprocess.run(
        ["lsinitrd", str(systemd_initrd)], capture_output=True, check=True
    ).stdout.decode(errors="replace")
    for unwanted in ("/test/", "/tests/", "ensurepip", "tkinter", "idlelib", "lib2to3"):
        assert not [line for line in listing.splitlines() if unwanted in line and "python" in line]
    assert "usr/bin/iguana" in listing

    iguana = systemd_initrd.stat().st_size
    podman_only = podman_only_initrd.stat().st_size
    added = iguana - podman_only
    _record_figures(
        initrd_bytes=iguana, podman_only_initrd_bytes=podman_only, iguana_added_bytes=added
    )
    assert 0 < added < 20 * 1024 * 1024, f"Iguana adds {added} bytes"


RESUME = "iguana status; iguana resume; exit\n"
RESCUE_DIALOGUE: dict[str, list[bootkit.Reply]] = {
    # dracut's shell init opens its emergency shell directly, named after the failed hook.
    "shell": [("iguana:/# ", RESUME, False)],
    # systemd's emergency.target runs sulogin, which wants Enter first.
    "systemd": [("Press Enter for maintenance", "\n", False), ("# ", RESUME, True)],
}


@pytest.mark.parametrize("init", ["shell", "systemd"])
def test_rescue_shell_resume_finishes_the_boot(
    init: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    kernel: bootkit.Kernel,
    source_tree: Path,
) -> None:
    """After a failed job the emergency shell has iguana on its PATH, and ``iguana resume``
    typed there runs the rest of the workflow; leaving the shell, the boot switches root. The
    report device holds Iguana's own last record (switch_root): the shell copies no report after
    a boot that Iguana failed or finished itself."""
    initrd = request.getfixturevalue(f"{init}_initrd")
    source = bootkit.ext4_image(tmp_path / "source.img", 64, bootkit.SOURCE_LABEL, source_tree)
    target = bootkit.blank_image(tmp_path / "target.img", 64)
    report = bootkit.ext4_image(tmp_path / "report.img", 16, bootkit.REPORT_LABEL)
    cmdline = COMMON.replace("rd.shell=0 ", "") + (
        "rd.iguana.debug=1 rd.iguana.control_url=/run/iguana/images/flaky.yaml "
        f"rd.iguana.report=LABEL={bootkit.REPORT_LABEL}"
    )

    result = bootkit.boot(
        kernel,
        initrd,
        [source, target, report],
        cmdline,
        tmp_path / "serial.log",
        timeout=300,
        replies=RESCUE_DIALOGUE[init],
    )

    console = result.console
    assert "e2e: flaky fails the first time" in console, console[-4000:]
    assert "IGUANA BOOT FAILED" in console
    assert "e2e: flaky succeeds the second time" in console, console[-4000:]
    assert bootkit.MARKER in console, console[-4000:]
    if init == "systemd":
        # iguana.service runs again when the shell exits; `iguana status` says the boot ended.
        assert "the boot already reached its ending (iguana status)" in console
    # iguana-boot's own copy (its message) is only for a crash; Iguana saved the report twice.
    assert "iguana: report saved to" not in console
    assert console.count("report.saved") >= 2, console[-4000:]
    saved = json.loads(bootkit.read_file(report, "/iguana-report/state"))
    assert saved["state"] == "switch_root"
    assert "rescue" in [step["dest"] for step in saved["history"]]
    offset = bootkit.partition_offset(target, 1)
    record = json.loads(bootkit.read_file(target, "/var/log/iguana/state", offset))
    assert record["state"] == "switch_root"
    assert record["error"] is None
    assert {name: job["status"] for name, job in record["jobs"].items()} == {
        "flaky": "succeeded",
        "partition": "succeeded",
        "mountlist": "succeeded",
    }
    assert "rescue" in [step["dest"] for step in record["history"]]
