"""The checkpoint journal: what a save appends instead of rewriting the whole record, and that
loading the snapshot plus its journal gives back exactly the record that was saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.errors import CheckpointError
from iguana_fsm.record import BootRecord, ImageTrust, JobRecord, JobStatus, Transition
from iguana_fsm.stages.base import BootContext, Stage
from tests.unit.boot_harness import Boot

JOBS = 12


def many_jobs(count: int) -> str:
    lines = ["jobs:"]
    for n in range(count):
        lines += [f"  j{n}:", f"    container: {{image: registry.example/j{n}:1}}"]
        if n == 5:
            lines += ["    continue-on-error: true"]
        if n == 7:
            lines += ["    if: failure()"]
    return "\n".join(lines) + "\n"


def in_a_job_loop_state(tmp_path: Path) -> tuple[CheckpointStore, BootRecord]:
    store = CheckpointStore(tmp_path / "state")
    record = BootRecord(run_id="r", state="jobs")
    store.save(record)
    return store, record


class TestJournal:
    def test_every_save_of_a_boot_loads_back_as_the_record(self, tmp_path: Path) -> None:
        """At every job of a boot the checkpoint on disk (snapshot plus journal) is the record
        in memory, field for field; the job loop appends to the journal instead of rewriting."""
        boot = Boot(tmp_path, many_jobs(JOBS))
        boot.engine.exit_codes["registry.example/j5:1"] = 1
        checked: list[int] = []

        def compare(stage: Stage) -> Stage:
            def run(ctx: BootContext) -> str:
                on_disk = CheckpointStore(ctx.paths.state).load()
                assert on_disk.to_json() == ctx.record.to_json()
                journal = ctx.paths.state.with_name("state.journal")
                checked.append(journal.stat().st_size if journal.exists() else 0)
                return stage(ctx)

            return run

        boot.wrap("jobs", compare)
        boot.wrap("mount", compare)
        assert boot.run() == 0
        assert len(checked) == JOBS, "the if: failure() job is skipped, mount is checked"
        assert max(checked) > 0, "the job loop never used the journal"
        assert not boot.paths.state.with_name("state.journal").exists(), "not folded at the end"
        record = boot.record()
        assert record.jobs["j5"].status == JobStatus.FAILED_CONTINUED
        assert record.jobs["j7"].status == JobStatus.SKIPPED

    def test_a_save_appends_only_what_changed(self, tmp_path: Path) -> None:
        """A change of one job appends a line holding that job, not the others nor the images."""
        store, record = in_a_job_loop_state(tmp_path)
        for n in range(50):
            record.jobs[f"j{n}"] = JobRecord(JobStatus.SUCCEEDED, exit_code=0)
            record.trust.images[f"i{n}"] = ImageTrust("r", None, f"sha256:{n}", "not required")
        record.jobs["j49"].status = JobStatus.RUNNING
        store.save(record)
        record.jobs["j49"].status = JobStatus.FAILED
        record.add_transition(Transition("jobs", "services", "next_job", at=1.0))
        store.save(record)
        last = json.loads(store.journal.read_text().splitlines()[-1])
        assert list(last["maps"]) == ["jobs"] and list(last["maps"]["jobs"]["set"]) == ["j49"]
        assert last["append"]["history"][0]["trigger"] == "next_job"
        assert store.load().to_json() == record.to_json()

    def test_a_line_cut_short_by_a_crash_is_ignored(self, tmp_path: Path) -> None:
        """A last journal line without its newline (the save never finished) is not applied."""
        store, record = in_a_job_loop_state(tmp_path)
        record.current_job = None
        record.warnings.append("kept")
        store.save(record)
        with store.journal.open("ab") as handle:
            handle.write(b'{"generation":1,"run_id":"r","set":{"state":"mou')
        assert store.load().warnings == ["kept"]

    def test_a_journal_of_an_older_snapshot_is_ignored(self, tmp_path: Path) -> None:
        """Lines that follow an earlier snapshot (a crash between a snapshot and the journal's
        removal) do not touch the newer snapshot."""
        store, record = in_a_job_loop_state(tmp_path)
        record.warnings.append("old")
        store.save(record)
        stale = store.journal.read_bytes()
        record.state = "mount"
        store.save(record)  # a snapshot: the journal goes
        store.journal.write_bytes(stale)
        loaded = store.load()
        assert loaded.state == "mount" and loaded.warnings == ["old"]

    def test_a_broken_line_inside_the_journal_names_it(self, tmp_path: Path) -> None:
        """A journal line in the middle that is not JSON is a CheckpointError naming the line."""
        store, record = in_a_job_loop_state(tmp_path)
        record.warnings.append("x")
        store.save(record)
        store.journal.write_bytes(b"garbage\n" + store.journal.read_bytes())
        with pytest.raises(CheckpointError, match=r"state.journal:1: not valid JSON"):
            store.load()
