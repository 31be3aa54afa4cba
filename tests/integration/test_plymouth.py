"""Iguana's progress path against the real plymouth daemon (Debian's ``plymouth``): a
``plymouthd`` on a pseudo-terminal with a text-mode splash, in network and mount namespaces of
its own (tests/support/plymouth_driver.py), stopped and gone at the end of each test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.plymouth_driver import MESSAGES

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NAMESPACES = [
    "unshare",
    "--net",
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    # plymouth's state directories are the namespace's own, so nothing is left on the machine
    'mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib/plymouth && exec "$@"',
    "sh",
]


def drive(scenario: str, splash: str, work: Path) -> dict[str, Any]:
    """Run the driver's ``scenario`` with plymouth's ``splash`` theme; what it saw. Checks
    that its plymouthd is gone afterwards and that the machine's /run/plymouth is as before."""
    run_plymouth = Path("/run/plymouth").exists()
    driver = [sys.executable, "-m", "tests.support.plymouth_driver", scenario, splash, str(work)]
    result = subprocess.run(
        [*NAMESPACES, *driver],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen: dict[str, Any] = json.loads(result.stdout)
    assert seen["plymouthd_exit"] == 0
    with pytest.raises(ProcessLookupError):
        os.kill(seen["plymouthd_pid"], 0)
    assert Path("/run/plymouth").exists() == run_plymouth
    return seen


@pytest.mark.parametrize("splash", ["text", "details"])
def test_each_report_reaches_the_splash(tmp_path: Path, splash: str) -> None:
    """Each report a job writes to /iguana/progress is drawn by plymouth's text-mode splash as
    one message, its percentage (a step N/M counted as one) included, in order."""
    seen = drive("messages", splash, tmp_path)
    screen = seen["screen"]
    places = [screen.find(drawn) for _, drawn in MESSAGES]
    assert -1 not in places and places == sorted(places), screen
    assert seen["events"] == ["copying files", "installing packages", "almost done"]
    assert not seen["gone"]


def test_plymouthd_quitting_during_a_job(tmp_path: Path) -> None:
    """When plymouthd quits during a job, the job's later reports are still logged, plymouth
    is not asked again, and the next job finds no plymouth."""
    seen = drive("quits", "text", tmp_path)
    assert "Iguana: install 10% first step" in seen["screen"]
    assert "second step" not in seen["screen"]
    assert seen["events"] == ["first step", "second step", "third step"]
    assert seen["gone"] and not seen["found_after"]


def test_a_stopped_plymouthd_never_holds_the_job_up(tmp_path: Path) -> None:
    """With plymouthd stopped (SIGSTOP), ``plymouth --ping`` finds none; one found before keeps
    its message waiting while every report is logged, gives up after its timeout, and is not
    asked again in that job."""
    seen = drive("blocked", "text", tmp_path)
    assert not seen["found_while_stopped"]
    assert seen["sender_waiting"] and seen["gone"]
    assert seen["events"] == ["first step", "second step", "third step"]
