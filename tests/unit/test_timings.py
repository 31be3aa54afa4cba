"""The per-phase timings of a boot (issue 17): the runner counts each state's time when it
leaves it, the jobs stage each job's container phases and clean-up, verify each pull; the
checkpoint keeps them through its journal and ``iguana status --timings`` shows them. These
are rules about where time is counted (every slice inside the boot's wall time, a sleep in a
stage shows in that stage), not timings of Iguana's speed."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import pytest

from iguana_fsm import breakdown, cli
from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.engine.base import ContainerSpec, JobResult, OutputSink
from iguana_fsm.errors import ExitCode, JobFailed
from iguana_fsm.record import BootRecord, Timings
from iguana_fsm.stages.base import BootContext, Stage
from tests.unit.boot_harness import Boot, fail_once
from tests.unit.fake_engine import FakeEngine

WORKFLOW = """\
jobs:
  first: {container: {image: registry.example/first:1}}
  second:
    needs: first
    container: {image: registry.example/second:1}
    services: {db: {image: registry.example/db:1}}
"""

ENGINE_PHASES = {"create": 0.25, "run": 2.5, "remove": 0.5}
"""What the engine double reports for every job container."""


class PhasedEngine(FakeEngine):
    """A FakeEngine whose job results carry container phases, as the podman engine's do."""

    def run_job(
        self, spec: ContainerSpec, *, timeout: float | None, interactive: bool, output: OutputSink
    ) -> JobResult:
        result = super().run_job(spec, timeout=timeout, interactive=interactive, output=output)
        return dataclasses.replace(result, timings=ENGINE_PHASES)


def visited_states(record: BootRecord) -> set[str]:
    """Every state the record's history passed through, its first one included."""
    return {record.history[0].source} | {step.dest for step in record.history}


def slow(seconds: float, stage: Stage) -> Stage:
    """``stage``, after sleeping ``seconds``."""

    def run(ctx: BootContext) -> str:
        time.sleep(seconds)
        return stage(ctx)

    return run


def test_every_state_visited_has_its_time(tmp_path: Path) -> None:
    """A finished boot records a non-negative time for exactly the states it passed through,
    and their sum lies within the wall time of the run."""
    boot = Boot(tmp_path, WORKFLOW)
    before = time.time()
    assert boot.run() == ExitCode.OK
    after = time.time()
    record = boot.record()
    assert set(record.timings.states) == visited_states(record)
    assert all(seconds >= 0 for seconds in record.timings.states.values())
    assert sum(record.timings.states.values()) <= after - before + 0.01  # rounding to ms


def test_a_slow_stage_shows_in_its_own_state(tmp_path: Path) -> None:
    """Time spent inside a stage is counted for that stage's state, not the next one."""
    boot = Boot(tmp_path, WORKFLOW)
    boot.wrap("mount", lambda stage: slow(0.2, stage))
    assert boot.run() == ExitCode.OK
    states = boot.record().timings.states
    assert states["mount"] >= 0.2
    assert states["switch_root"] < 0.2


def test_services_and_jobs_add_up_over_the_jobs(tmp_path: Path) -> None:
    """services and jobs are entered once per job; their times are summed over the visits."""
    boot = Boot(tmp_path, WORKFLOW)
    boot.wrap("services", lambda stage: slow(0.1, stage))
    assert boot.run() == ExitCode.OK
    assert boot.record().timings.states["services"] >= 0.2  # two jobs, two visits


def test_job_phases_come_from_the_engine_and_clean_up(tmp_path: Path) -> None:
    """A job's create and run are the engine's; its clean-up is the container's removal plus
    stopping services and releasing images, so at least the removal."""
    boot = Boot(tmp_path, WORKFLOW)
    boot.engine = PhasedEngine()
    assert boot.run() == ExitCode.OK
    jobs = boot.record().timings.jobs
    assert set(jobs) == {"first", "second"}
    for phases in jobs.values():
        assert set(phases) == {"create", "run", "clean-up"}
        assert (phases["create"], phases["run"]) == (0.25, 2.5)
        assert phases["clean-up"] >= 0.5


def test_every_image_pull_is_timed(tmp_path: Path) -> None:
    """verify records one pull time per image, services' images included."""
    boot = Boot(tmp_path, WORKFLOW)
    assert boot.run() == ExitCode.OK
    assert set(boot.record().timings.pulls) == {
        "registry.example/first:1",
        "registry.example/second:1",
        "registry.example/db:1",
    }


def test_resume_adds_to_the_times_of_the_failed_run(tmp_path: Path) -> None:
    """A failed run's states keep their times and the resumed run adds its own, the time in
    between (no run going) counted nowhere."""
    boot = Boot(tmp_path, WORKFLOW)
    boot.wrap("jobs", lambda stage: fail_once("jobs", stage, JobFailed("job first broke")))
    assert boot.run() == ExitCode.JOB
    failed = boot.record().timings.states
    assert {"failed", "rescue", "jobs"} <= set(failed)
    time.sleep(0.3)
    before = time.time()
    assert boot.resume() == ExitCode.OK
    after = time.time()
    resumed = boot.record().timings.states
    assert all(resumed[state] >= seconds for state, seconds in failed.items())
    added = sum(resumed.values()) - sum(failed.values())
    assert 0 <= added <= after - before + 0.01


def test_timings_survive_the_journal(tmp_path: Path) -> None:
    """The checkpoint read back mid-boot (a snapshot plus journal lines) holds the same
    timings as the record in memory, the clean-up counted after the job's outcome included."""
    boot = Boot(tmp_path, WORKFLOW)
    boot.engine = PhasedEngine()
    seen: list[tuple[Timings, Timings]] = []

    def compare(stage: Stage) -> Stage:
        def run(ctx: BootContext) -> str:
            on_disk = CheckpointStore(ctx.paths.state).load().timings
            seen.append((copy.deepcopy(ctx.record.timings), on_disk))
            return stage(ctx)

        return run

    boot.wrap("services", compare)
    boot.wrap("mount", compare)
    assert boot.run() == ExitCode.OK
    assert len(seen) == 3
    for in_memory, on_disk in seen:
        assert on_disk == in_memory
    assert seen[-1][1].jobs["second"]["clean-up"] >= 0.5


def test_set_job_keeps_other_phases_and_replaces_the_map_value() -> None:
    """Setting a phase keeps the job's others, and puts a new dict in the map (the journal
    diffs the map by value identity)."""
    timings = Timings()
    timings.set_job("a", {"create": 1.0})
    first = timings.jobs["a"]
    timings.set_job("a", {"clean-up": 0.1234})
    assert timings.jobs["a"] == {"create": 1.0, "clean-up": 0.123}
    assert timings.jobs["a"] is not first


def test_status_timings_shows_states_jobs_and_pulls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``iguana status --timings`` lists each state, each job's phases, each pull and the time
    outside job containers (the total minus the containers' run phases)."""
    boot = Boot(tmp_path, WORKFLOW)
    boot.engine = PhasedEngine()
    assert boot.run() == ExitCode.OK
    assert cli.main(["status", "--timings", "--sandbox", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for state in visited_states(boot.record()):
        assert f"\n  {state} " in out
    assert "registry.example/db:1" in out
    assert "waited for by a stage" in out
    by_job = out.split("seconds by job:", 1)[1].splitlines()
    first = next(line for line in by_job if line.startswith("  first "))
    assert first.split()[1:3] == ["0.25", "2.50"]
    total = sum(boot.record().timings.states.values())
    outside = next(line for line in out.splitlines() if "outside job containers" in line)
    assert float(outside.split()[-1]) == pytest.approx(total - 5.0, abs=0.01)


def test_breakdown_of_a_record_without_timings() -> None:
    """A checkpoint written before timings existed shows zero totals, no job or pull lines."""
    text = breakdown.describe(BootRecord(run_id="r", state="jobs"))
    assert "total" in text and "seconds by job" not in text and "pull" not in text
