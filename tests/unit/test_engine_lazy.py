"""The engine's start in the background (issue 17): ``StartOnUse.start_soon`` starts it in a
thread of its own while the boot goes on; the first call that needs the engine waits for that
start and gets its error; stopping waits for a start under way, so no engine outlives the boot."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from iguana_fsm.engine.base import ImageInfo
from iguana_fsm.engine.lazy import StartOnUse
from iguana_fsm.errors import EngineError, ExitCode
from tests.unit.boot_harness import Boot
from tests.unit.fake_engine import FakeEngine

WAIT = 30.0
"""How long a test waits for an event that must come (a bound against hanging, not a timing)."""


class GatedEngine(FakeEngine):
    """A FakeEngine whose start blocks until ``gate`` is set, and fails when ``error`` is."""

    def __init__(self, error: str | None = None) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.error = error
        self.start_threads: list[threading.Thread] = []

    def start(self) -> None:
        self.start_threads.append(threading.current_thread())
        self.entered.set()
        assert self.gate.wait(WAIT)
        super().start()
        if self.error is not None:
            raise EngineError(self.error)


def test_start_soon_returns_while_the_start_runs_in_another_thread() -> None:
    """start_soon returns at once; the engine starts in another thread; a pull waits for it."""
    engine = GatedEngine()
    lazy = StartOnUse(engine)
    lazy.start_soon()
    assert engine.entered.wait(WAIT)
    assert engine.started == 0  # still blocked: start_soon did not wait for it
    opener = threading.Timer(0.05, engine.gate.set)
    opener.start()
    info = lazy.pull("registry.example/a:1")
    assert isinstance(info, ImageInfo)
    assert engine.calls[:2] == [("start", ""), ("pull", "registry.example/a:1")]
    assert engine.start_threads[0] is not threading.current_thread()
    lazy.stop()
    assert engine.stopped == 1


def test_a_registry_question_does_not_wait_for_the_start() -> None:
    """inspect_remote (the registry's answer about an image) is asked while the start is still
    blocked, without joining it; a pull then waits for the start."""
    engine = GatedEngine()
    lazy = StartOnUse(engine)
    lazy.start_soon()
    assert engine.entered.wait(WAIT)
    found = lazy.inspect_remote("registry.example/a:1")
    assert found is not None and found.reference == "registry.example/a:1"
    assert engine.started == 0
    engine.gate.set()
    lazy.pull("registry.example/a:1")
    assert engine.started == 1
    lazy.stop()


def test_a_failed_background_start_is_raised_by_the_first_use() -> None:
    """The start's error reaches the stage that needs the engine; stopping then raises nothing
    and still lets the engine clean up."""
    engine = GatedEngine(error="podman system service exited with code 125")
    engine.gate.set()
    lazy = StartOnUse(engine)
    lazy.start_soon()
    with pytest.raises(EngineError, match="exited with code 125"):
        lazy.pull("registry.example/a:1")
    lazy.stop()
    assert engine.names("pull") == []


def test_stop_waits_for_a_start_under_way_then_stops() -> None:
    """A boot that ends while the engine is still starting stops it once the start is done."""
    engine = GatedEngine()
    lazy = StartOnUse(engine)
    lazy.start_soon()
    assert engine.entered.wait(WAIT)
    opener = threading.Timer(0.05, engine.gate.set)
    opener.start()
    lazy.stop()
    assert (engine.started, engine.stopped) == (1, 1)
    lazy.stop()
    assert engine.stopped == 1  # idempotent


def test_start_soon_twice_starts_once_and_reports_its_times() -> None:
    """A second start_soon does nothing; the first use reports the start's and the wait's
    seconds, once."""
    engine = GatedEngine()
    engine.gate.set()
    times: list[tuple[float, float]] = []
    lazy = StartOnUse(engine, on_started=lambda took, waited: times.append((took, waited)))
    lazy.start_soon()
    lazy.start_soon()
    lazy.start()
    lazy.start()
    assert engine.started == 1
    assert len(times) == 1 and min(times[0]) >= 0


def test_without_start_soon_the_first_use_starts_it() -> None:
    """Without a background start, the first use starts the engine in the caller's thread and
    reports a wait as long as the start."""
    engine = GatedEngine()
    engine.gate.set()
    times: list[tuple[float, float]] = []
    lazy = StartOnUse(engine, on_started=lambda took, waited: times.append((took, waited)))
    lazy.pull("registry.example/a:1")
    assert engine.start_threads == [threading.current_thread()]
    assert times[0][0] == times[0][1]


def test_a_boot_starts_the_engine_in_the_background_and_records_it(tmp_path: Path) -> None:
    """A sandbox boot starts its engine outside the main thread, once, stops it once, and
    the checkpoint keeps the seconds of the start, the wait for it and the stop."""
    boot = Boot(tmp_path, "jobs:\n  a: {container: {image: registry.example/a:1}}\n")
    engine = GatedEngine()
    engine.gate.set()
    boot.engine = engine
    assert boot.run() == ExitCode.OK
    assert engine.start_threads and engine.start_threads[0] is not threading.current_thread()
    assert (engine.started, engine.stopped) == (1, 1)
    assert set(boot.record().timings.engine) == {"start", "waited", "stop"}


def test_a_boot_failing_before_verify_stops_the_engine_it_began(tmp_path: Path) -> None:
    """A workflow that fails the boot before any pull (an invalid image reference) ends it
    without using the engine; the engine begun in the background is stopped all the same."""
    boot = Boot(tmp_path, "jobs:\n  a: {container: {image: 'Bad Image'}}\n")
    engine = GatedEngine()
    engine.gate.set()
    boot.engine = engine
    assert boot.run() != ExitCode.OK
    assert engine.names("pull") == []
    assert engine.started == engine.stopped
