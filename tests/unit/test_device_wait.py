"""Waiting for a device (devices.wait_for): the deadline and the time its refusal names."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.devices import DeviceScope, wait_for
from iguana_fsm.errors import MountError

MISSING = "UUID=0badc0de-0000-4000-8000-000000000000"


class Clock:
    """A clock that moves only when slept on (and a little on each reading)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        self.now += 0.01
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_refusal_counts_from_when_the_deadline_was_set(tmp_path: Path) -> None:
    """A deadline set before the wait (the mount stage's one start for all its devices) is named
    as the seconds since that start, never fewer than the device timeout."""
    clock = Clock(100.0)
    scope = DeviceScope(top=tmp_path)
    with pytest.raises(MountError) as caught:
        wait_for(MISSING, scope, 99.5 + 1.0, clock, clock.sleep, since=99.5)
    assert f"device {MISSING} did not appear within " in str(caught.value)
    waited = float(str(caught.value).split(" within ", 1)[1].split(" ", 1)[0])
    assert waited >= 1.0


def test_no_sleep_past_the_deadline(tmp_path: Path) -> None:
    """Each sleep ends at the deadline at the latest, so the wait is not longer than asked."""
    clock = Clock(0.0)
    with pytest.raises(MountError):
        wait_for(MISSING, DeviceScope(top=tmp_path), 0.35, clock, clock.sleep)
    assert clock.now < 0.35 + 0.1
