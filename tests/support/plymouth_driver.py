"""Runs a real ``plymouthd`` on a pseudo-terminal and Iguana's progress path against it; run by
tests/integration/test_plymouth.py inside namespaces of its own (``unshare --net --mount``:
plymouth's socket is an abstract one, per network namespace, and its /run/plymouth and
/var/lib/plymouth are tmpfs there), so nothing of it reaches the machine or another test.

``python -m tests.support.plymouth_driver SCENARIO SPLASH DIR`` prints one JSON object: what
the splash drew on the terminal (escape sequences removed), the job.progress events, and what
the scenario observed. Scenarios: ``messages`` (three reports), ``quits`` (plymouthd quits
during the job), ``blocked`` (plymouthd stopped with SIGSTOP while the job reports).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iguana_fsm.log import make_logger
from iguana_fsm.progress import JobProgress, Plymouth
from iguana_fsm.record import JobRecord

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f]")
MESSAGES = (
    ("42 copying files", "Iguana: install 42% copying files"),
    ("3/4 installing packages", "Iguana: install 75% installing packages"),
    ("almost done", "Iguana: install almost done"),
)
"""The reports of the ``messages`` scenario, in order, each with the message Iguana sends."""
WAIT = 30.0
"""Seconds any one thing may take here before the scenario gives up (a busy machine)."""


class Screen:
    """The pty plymouthd draws on: 80x25, read by a thread."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 25, 80, 0, 0))
        self.name = os.ttyname(self.slave)
        self.data = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.data += os.read(self.master, 65536)
                except OSError:
                    return

    def text(self) -> str:
        """What was drawn, as text without escape sequences."""
        return ESCAPES.sub(" ", self.data.decode("utf-8", errors="replace"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def until(check: Callable[[], bool]) -> bool:
    """Poll ``check`` until it holds or WAIT seconds passed."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def start_daemon(screen: Screen, splash: str, work: Path) -> subprocess.Popen[bytes]:
    """plymouthd in boot mode on ``screen`` only (no serial console, no udev), its own pid
    file, the ``splash`` theme; waits until ``plymouth --ping`` answers and the splash shows."""
    daemon = subprocess.Popen(
        [
            "plymouthd",
            "--no-daemon",
            "--mode=boot",
            "--no-boot-log",
            "--ignore-serial-consoles",
            f"--pid-file={work / 'plymouthd.pid'}",
            f"--tty={screen.name}",
            # "splash" first: plymouthd finds a bare "splash" only where no longer word has it
            f"--kernel-command-line=splash plymouth.splash={splash} plymouth.ignore-udev",
        ],
        stdin=subprocess.DEVNULL,
        stdout=(work / "plymouthd.out").open("wb"),
        stderr=subprocess.STDOUT,
    )
    if not until(lambda: Plymouth.find() is not None):
        raise SystemExit("plymouthd never answered --ping")
    subprocess.run(["plymouth", "show-splash"], check=True, timeout=WAIT)
    return daemon


def events(log_file: Path) -> list[dict[str, Any]]:
    """The job.progress events logged so far."""
    if not log_file.exists():
        return []
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    return [line for line in lines if line.get("event") == "job.progress"]


def report(progress: Path, line: str) -> None:
    """A job's line on its progress file."""
    with progress.open("a") as handle:
        handle.write(line + "\n")


def scenario(
    name: str, screen: Screen, daemon: subprocess.Popen[bytes], work: Path
) -> dict[str, Any]:
    """Run scenario ``name``; what it saw."""
    progress, log_file = work / "progress", work / "log.jsonl"
    seen: dict[str, Any] = {}
    if name == "blocked":
        daemon.send_signal(signal.SIGSTOP)
        seen["found_while_stopped"] = Plymouth.find() is not None
        # as if found before it stopped answering; a longer wait than the default's, so that
        # the job's reports are logged before it gives up however busy the machine is
        plymouth: Plymouth | None = Plymouth(shutil.which("plymouth") or "plymouth")
        plymouth.TIMEOUT = WAIT / 3
    else:
        plymouth = Plymouth.find()
    assert plymouth is not None
    job = JobProgress(
        progress,
        "install",
        {"n": 1, "of": 1},
        JobRecord(),
        make_logger(log_file, None),
        lambda: None,
        interval=0.05,
        plymouth=plymouth,
    )
    with job:
        if name == "messages":
            for line, drawn in MESSAGES:
                report(progress, line)
                until(lambda: drawn in screen.text())  # noqa: B023 (used at once)
        elif name == "quits":
            report(progress, "10 first step")
            until(lambda: "first step" in screen.text())
            subprocess.run(["plymouth", "quit"], timeout=WAIT, check=False)
            daemon.wait(WAIT)
            for line in ("20 second step", "30 third step"):
                report(progress, line)
            until(lambda: len(events(log_file)) == 3)
        elif name == "blocked":
            for line in ("10 first step", "20 second step", "30 third step"):
                report(progress, line)
            until(lambda: len(events(log_file)) == 3)
            # every report was logged while the first message still waits for the daemon
            seen["sender_waiting"] = plymouth._sender is not None
    seen["gone"] = plymouth.gone
    if name == "blocked":
        daemon.send_signal(signal.SIGCONT)
    seen["found_after"] = Plymouth.find() is not None
    seen["events"] = [event["message"] for event in events(log_file)]
    return seen


def stop_daemon(daemon: subprocess.Popen[bytes], work: Path) -> int:
    """Ask plymouthd to quit, kill it (by its pid file) if it does not; its exit code."""
    if daemon.poll() is None:
        subprocess.run(["plymouth", "quit"], timeout=WAIT, check=False)
        try:
            return daemon.wait(WAIT)
        except subprocess.TimeoutExpired:
            pid = int((work / "plymouthd.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
    return daemon.wait(WAIT)


def main(name: str, splash: str, directory: str) -> int:
    work = Path(directory)
    screen = Screen()
    daemon = start_daemon(screen, splash, work)
    try:
        seen = scenario(name, screen, daemon, work)
    finally:
        seen_exit = stop_daemon(daemon, work)
        time.sleep(0.2)
        screen.close()
    seen.update(screen=screen.text(), plymouthd_pid=daemon.pid, plymouthd_exit=seen_exit)
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
