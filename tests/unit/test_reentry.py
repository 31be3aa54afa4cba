"""Resume (iguana_fsm/reentry.py) over a FakeEngine: where it enters, what it runs again,
what it removes first and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iguana_fsm.errors import EngineError, MountError, ResumeRefused, UsageError
from iguana_fsm.machine import WORK_STATES
from tests.unit.boot_harness import fail_once
from tests.unit.test_runner import FAILING, TWO_JOBS, make_boot


class TestResume:
    @pytest.mark.parametrize("state", [*WORK_STATES, "switch_root"])
    def test_resume_after_failure_in_each_state_finishes(self, tmp_path: Path, state: str) -> None:
        """Failing once in any state, then resuming, finishes the boot without re-running
        jobs that succeeded."""
        boot = make_boot(tmp_path)
        boot.wrap(state, lambda stage: fail_once(state, stage, EngineError(f"{state} broke")))
        assert boot.run() == 5
        assert boot.record().failed_state == state
        runs_before = list(boot.engine.names("run_job"))
        assert boot.resume() == 0
        record = boot.record()
        assert record.state == "switch_root" and record.error is None
        runs = boot.engine.names("run_job")
        assert sorted(runs) == sorted(set(runs)), "a job ran twice"
        assert len(runs) == 2 and runs[: len(runs_before)] == runs_before
        assert record.history[-1].dest == "switch_root"
        assert any(step.trigger == "resume" for step in record.history)

    def test_resume_reruns_the_failed_job_only(self, tmp_path: Path) -> None:
        """After a job failure is fixed, resume runs that job and the skipped ones, once."""
        boot = make_boot(tmp_path, FAILING)
        boot.engine.exit_codes["registry.example/broken:1"] = 2
        boot.run()
        boot.engine.exit_codes.clear()
        boot.engine.calls.clear()
        assert boot.resume() == 0
        rerun = [name.rsplit("-", 1)[-1] for name in boot.engine.names("run_job")]
        assert rerun == ["broken", "after"]
        statuses = {name: job.status for name, job in boot.record().jobs.items()}
        assert statuses["broken"] == "succeeded" and statuses["after"] == "succeeded"
        assert boot.record().jobs["broken"].attempts == 2

    def test_resume_after_kill_removes_leftovers(self, tmp_path: Path) -> None:
        """An interrupted boot (state still 'jobs') resumes at its job's services, after the
        engine removed the containers labelled with the run id."""
        boot = make_boot(tmp_path)

        def killed(ctx: object) -> str:
            raise KeyboardInterrupt

        boot.replace("jobs", killed)
        with pytest.raises(KeyboardInterrupt):
            boot.run()
        assert boot.record().state == "jobs"
        (tmp_path / "fresh").mkdir()
        boot.stages = make_boot(tmp_path / "fresh").stages
        assert boot.resume() == 0
        assert boot.engine.names("remove_leftovers") == [boot.record().run_id]

    def test_fresh_run_removes_the_old_runs_leftovers(self, tmp_path: Path) -> None:
        """--fresh over a failed boot first removes the containers and volumes of its run."""
        boot = make_boot(tmp_path)
        boot.wrap("mount", lambda stage: fail_once("mount", stage, MountError("no root")))
        boot.run()
        old_run = boot.record().run_id
        assert boot.session(str(boot.workflow_file), fresh=True).run() == 0
        assert boot.engine.names("remove_leftovers") == [old_run]
        assert boot.record().run_id != old_run

    def test_resume_refuses_a_changed_workflow(self, tmp_path: Path) -> None:
        """Resume re-reads the workflow and refuses when its sha256 changed."""
        boot = make_boot(tmp_path)
        boot.wrap("mount", lambda stage: fail_once("mount", stage, MountError("no root")))
        boot.run()
        copy = boot.paths.workflow_copy.read_bytes()
        boot.workflow_file.write_text(TWO_JOBS.replace("install:1", "install:2"))
        with pytest.raises(ResumeRefused, match="workflow changed"):
            boot.resume()
        assert boot.paths.workflow_copy.read_bytes() == copy, "the boot's copy was replaced"

    def test_resume_refuses_a_finished_boot(self, tmp_path: Path) -> None:
        """There is nothing to resume after a boot reached its ending."""
        boot = make_boot(tmp_path)
        boot.run()
        with pytest.raises(ResumeRefused, match="already finished"):
            boot.resume()

    def test_resume_without_checkpoint(self, tmp_path: Path) -> None:
        """Resume with no checkpoint says so in one line."""
        boot = make_boot(tmp_path)
        with pytest.raises(ResumeRefused, match="no checkpoint"):
            boot.resume()

    def test_run_refuses_over_an_unfinished_boot(self, tmp_path: Path) -> None:
        """A second run does not trample an unfinished boot unless --fresh is given."""
        boot = make_boot(tmp_path)
        boot.wrap("mount", lambda stage: fail_once("mount", stage, MountError("no root")))
        boot.run()
        state = json.loads(boot.paths.state.read_text())["state"]
        assert state == "rescue"
        boot.record()
        with pytest.raises(UsageError, match="iguana resume"):
            boot.run()
        assert boot.session(str(boot.workflow_file), fresh=True).run() == 0
