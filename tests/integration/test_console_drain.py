"""iguana-boot's last step waits for the console to send what Iguana wrote before systemd's
TTYReset= flushes the terminal (tcflush) as iguana.service ends.

The kernel's rule: a TCSETSW ioctl (tcsetattr with TCSADRAIN) returns only after the output
queued on the terminal has been sent; TCSETS does not wait. These tests run the shell helper
under strace on a real pseudo-terminal and read which ioctl it made.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "dracut" / "95iguana" / "iguana-lib.sh"
SET_IOCTL = re.compile(r"ioctl\(0, (?:\S+ or )?(TCSETSW|TCSETSF|TCSETS)\b")


@pytest.fixture
def terminal() -> Iterator[str]:
    """A pseudo-terminal's slave device, both ends closed afterwards."""
    master, slave = pty.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def _drain_under_strace(device: str) -> tuple[int, list[str]]:
    """Runs ``iguana_drain_console DEVICE`` under strace; its exit code and the set-ioctls."""
    script = f'. "{LIB}"; iguana_drain_console "$1"'
    result = subprocess.run(
        ["strace", "-f", "-e", "trace=ioctl", "sh", "-c", script, "sh", device],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result.returncode, SET_IOCTL.findall(result.stderr)


def _settings(device: str) -> str:
    """The terminal's settings as ``stty -g`` prints them."""
    with open(device, "rb") as tty:
        return subprocess.run(
            ["stty", "-g"], stdin=tty, capture_output=True, text=True, check=True
        ).stdout


def test_drain_sets_the_terminal_only_with_the_waiting_ioctl(terminal: str) -> None:
    """The helper applies the terminal's settings once, with TCSETSW (wait for the output to be
    sent), never with TCSETS or TCSETSF (which would not wait, or would discard input)."""
    code, ioctls = _drain_under_strace(terminal)
    assert code == 0
    assert ioctls == ["TCSETSW"]


def test_drain_leaves_the_terminal_settings_as_they_were(terminal: str) -> None:
    """Draining changes none of the terminal's settings (they are applied back unchanged)."""
    with open(terminal, "rb") as tty:
        subprocess.run(["stty", "-echo", "cols", "77"], stdin=tty, check=True)
    before = _settings(terminal)
    code, _ = _drain_under_strace(terminal)
    assert code == 0
    assert _settings(terminal) == before


def test_drain_without_a_terminal_returns_at_once(tmp_path: Path) -> None:
    """A console that is missing or not a terminal is no error and sets nothing."""
    plain = tmp_path / "console"
    plain.write_text("")
    for device in (str(tmp_path / "missing"), str(plain)):
        code, ioctls = _drain_under_strace(device)
        assert code == 0
        assert ioctls == []


def test_iguana_boot_drains_the_console_before_each_exit() -> None:
    """Every ``exit`` of iguana-boot is preceded by a drain of /dev/console."""
    boot = (LIB.parent / "iguana-boot.sh").read_text(encoding="utf-8").splitlines()
    exits = [number for number, line in enumerate(boot) if re.match(r"\s*exit\b", line)]
    assert exits
    for number in exits:
        assert boot[number - 1].strip() == "iguana_drain_console /dev/console", boot[number]
