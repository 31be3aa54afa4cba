"""The runner and session over a FakeEngine: transitions, checkpoints, failures, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.checkpoint import BootRecord, CheckpointStore
from iguana_fsm.errors import (
    CheckpointError,
    EngineError,
    FetchError,
    HandoffError,
    IguanaError,
    MountError,
    TrustError,
    UsageError,
)
from iguana_fsm.record import Rescue, RescueAction
from tests.unit.boot_harness import Boot, ending, fail_once

TWO_JOBS = """\
name: two jobs
env:
  SECRET_TOKEN: hunter2
  LOG_LEVEL: debug
public-env: [LOG_LEVEL]
jobs:
  prepare:
    container:
      image: registry.example/prepare:1
      volumes: [shared:/shared]
    services:
      helper:
        image: registry.example/helper:1
        volumes: [shared:/shared]
  install:
    needs: prepare
    container:
      image: registry.example/install:1
"""

FAILING = """\
jobs:
  first:
    container: {image: registry.example/first:1}
  broken:
    container: {image: registry.example/broken:1}
  after:
    container: {image: registry.example/after:1}
  cleanup:
    if: failure()
    container: {image: registry.example/cleanup:1}
  report:
    if: always()
    container: {image: registry.example/report:1}
"""


def make_boot(
    tmp_path: Path, workflow: str = TWO_JOBS, trigger: str = "choose_switch_root"
) -> Boot:
    boot = Boot(tmp_path, workflow)
    for state, stage in ending(trigger).items():
        boot.replace(state, stage)
    return boot


class TestHealthyBoot:
    def test_states_run_in_order_with_services_per_job(self, tmp_path: Path) -> None:
        """locate..verify, then services/jobs once per job, then mount and the ending."""
        boot = make_boot(tmp_path)
        assert boot.run() == 0
        assert boot.visited == [
            "locate", "fetch", "verify", "services", "jobs", "services", "jobs", "mount",
            "switch_root",
        ]  # fmt: skip

    def test_checkpoint_records_every_transition_and_job(self, tmp_path: Path) -> None:
        """The saved record holds the final state, the history and each job's result."""
        boot = make_boot(tmp_path)
        boot.run()
        record = boot.record()
        assert record.state == "switch_root"
        assert [step.dest for step in record.history] == [
            "fetch", "verify", "services", "jobs", "services", "jobs", "mount", "switch_root",
        ]  # fmt: skip
        assert {name: job.status for name, job in record.jobs.items()} == {
            "prepare": "succeeded",
            "install": "succeeded",
        }
        assert list(record.jobs) == ["prepare", "install"], "jobs keep their run order"
        assert record.jobs["install"].exit_code == 0
        assert record.jobs["install"].digest is not None
        assert record.workflow_sha256 is not None and len(record.workflow_sha256) == 64

    def test_services_stopped_by_id_and_volumes_removed(self, tmp_path: Path) -> None:
        """A job's service is started before it and stopped by container id after it."""
        boot = make_boot(tmp_path)
        boot.run()
        calls = [name for name, _ in boot.engine.calls]
        assert calls.index("start_service") < calls.index("run_job")
        started = boot.engine.names("start_service")
        assert boot.engine.names("stop_container") == [f"cid-{started[0]}"]
        assert boot.engine.names("create_volume") == ["shared"]
        assert boot.engine.names("remove_volume") == ["shared"]
        assert not boot.engine.running and not boot.engine.volumes

    def test_images_removed_after_their_last_use(self, tmp_path: Path) -> None:
        """Each image is removed once no later job needs it; the engine ends empty."""
        boot = make_boot(tmp_path)
        boot.run()
        removed = boot.engine.names("remove_image")
        assert len(removed) == 3 and not boot.engine.images
        calls = boot.engine.calls
        first_removal = calls.index(("remove_image", removed[0]))
        assert calls.index(("run_job", boot.engine.names("run_job")[1])) > first_removal

    def test_debug_keeps_images(self, tmp_path: Path) -> None:
        """rd.iguana.debug keeps every image for inspection."""
        boot = make_boot(tmp_path)
        boot.cmdline = "rd.iguana.debug"
        boot.run()
        assert boot.engine.names("remove_image") == []

    def test_machine_id_is_there_before_the_first_container(self, tmp_path: Path) -> None:
        """/iguana/machine-id holds a valid id when the first job starts, and never changes."""
        boot = make_boot(tmp_path)
        seen: list[str] = []
        boot.engine.on_job = lambda spec: seen.append(boot.paths.machine_id.read_text().strip())
        boot.run()
        assert len(seen) == 2 and seen[0] == seen[1]
        assert len(seen[0]) == 32 and int(seen[0], 16) > 0

    def test_engine_stopped_at_the_end(self, tmp_path: Path) -> None:
        """The podman service started on first use is stopped when the boot ends."""
        boot = make_boot(tmp_path)
        boot.run()
        assert boot.engine.started == 1 and boot.engine.stopped == 1

    def test_secrets_are_redacted_in_log_and_checkpoint(self, tmp_path: Path) -> None:
        """An env value not in public-env never reaches the log or the checkpoint."""
        boot = make_boot(tmp_path)
        boot.run()
        assert "hunter2" not in boot.paths.log.read_text()
        assert "hunter2" not in boot.paths.state.read_text()
        started = [e for e in boot.log_events() if e["event"] == "job.started"]
        assert started[0]["env"]["SECRET_TOKEN"] == "***"
        assert started[0]["env"]["LOG_LEVEL"] == "debug"
        assert started[0]["env"]["IGUANA"] == "true"

    def test_kernel_env_secrets_stay_out_of_the_checkpoint(self, tmp_path: Path) -> None:
        """rd.iguana.env values are redacted in the recorded command line, yet a resume still
        gives the containers the real value."""
        boot = make_boot(tmp_path)
        boot.cmdline = "rd.iguana.env=API_KEY=s3cr3t-value"
        boot.wrap("mount", lambda stage: fail_once("mount", stage, MountError("no root")))
        boot.run()
        assert "s3cr3t-value" not in boot.paths.state.read_text()
        assert str(boot.record().cmdline).startswith("rd.iguana.env=API_KEY=***")
        seen: list[str] = []
        boot.stages["mount"] = lambda ctx: (
            seen.append(ctx.config.env["API_KEY"]) or ("choose_switch_root")
        )
        assert boot.resume() == 0
        assert seen == ["s3cr3t-value"]

    def test_every_transition_is_a_log_event(self, tmp_path: Path) -> None:
        """state.entered is logged once per state entered, with its trigger."""
        boot = make_boot(tmp_path)
        boot.run()
        entered = [e["state"] for e in boot.log_events() if e["event"] == "state.entered"]
        assert entered == ["locate", *[step.dest for step in boot.record().history]]

    def test_progress_lines_written(self, tmp_path: Path) -> None:
        """/iguana/progress gets one line per state and job."""
        boot = make_boot(tmp_path)
        boot.run()
        progress = boot.paths.progress.read_text().splitlines()
        assert "Iguana: switch_root" in progress
        assert "Job install succeeded" in progress

    @pytest.mark.parametrize("trigger", ["choose_kexec", "choose_reboot"])
    def test_other_endings(self, tmp_path: Path, trigger: str) -> None:
        """The mount stage's decision picks the ending state."""
        boot = make_boot(tmp_path, trigger=trigger)
        assert boot.run() == 0
        assert boot.record().state == trigger.removeprefix("choose_")


class TestFailures:
    @pytest.mark.parametrize(
        ("state", "error"),
        [
            ("locate", UsageError("x")),
            ("fetch", FetchError("https://h/w.yaml: 404")),
            ("verify", TrustError("image x: refused")),
            ("services", EngineError("service helper exited")),
            ("jobs", EngineError("podman died")),
            ("mount", MountError("/iguana/mountlist:3: bad")),
            ("switch_root", HandoffError("no /sysroot")),
        ],
    )
    def test_error_in_each_state_ends_in_rescue(
        self, tmp_path: Path, state: str, error: IguanaError
    ) -> None:
        """A stage's error moves to failed then rescue, recording state, message and code."""
        boot = make_boot(tmp_path)

        def broken(ctx: object) -> str:
            raise error

        boot.replace(state, broken)
        code = boot.run()
        record = boot.record()
        assert record.state == "rescue"
        assert record.failed_state == state
        assert record.error is not None and record.error.message == str(error)
        assert code == error.exit_code == record.error.code
        assert "IGUANA BOOT FAILED" in boot.console.getvalue()

    def test_internal_error_keeps_traceback_out_of_console(self, tmp_path: Path) -> None:
        """A bug in a stage fails the boot with code 1; the traceback is in the log only."""
        boot = make_boot(tmp_path)

        def buggy(ctx: object) -> str:
            raise ZeroDivisionError("oops")

        boot.replace("mount", buggy)
        assert boot.run() == 1
        assert "Traceback" not in boot.console.getvalue()
        assert "ZeroDivisionError" in boot.paths.log.read_text()
        assert "Traceback" in boot.paths.log.read_text()

    def test_bug_outside_a_stage_is_recorded_with_its_traceback_in_the_log(
        self, tmp_path: Path
    ) -> None:
        """A stage returning a trigger its state does not have is a bug of the runner's world:
        exit 1, the error in the checkpoint, the traceback in the log, not on the console."""
        boot = make_boot(tmp_path)
        boot.replace("mount", lambda ctx: "no_such_trigger")
        assert boot.run() == 1
        record = boot.record()
        assert record.error is not None and record.error.state == "mount"
        assert "internal error" in record.error.message
        assert "runner.crashed" in boot.paths.log.read_text()
        assert "Traceback" not in boot.console.getvalue()
        assert boot.engine.stopped == 1

    def test_failed_job_skips_dependents_runs_cleanup(self, tmp_path: Path) -> None:
        """After a failure: success() jobs are skipped, failure() and always() jobs run."""
        boot = make_boot(tmp_path, FAILING)
        boot.engine.exit_codes["registry.example/broken:1"] = 3
        boot.engine.outputs["registry.example/broken:1"] = ["partitioning /dev/vdb", "no space"]
        code = boot.run()
        record = boot.record()
        statuses = {name: job.status for name, job in record.jobs.items()}
        assert statuses == {
            "first": "succeeded",
            "broken": "failed",
            "after": "skipped",
            "cleanup": "succeeded",
            "report": "succeeded",
        }
        assert code == 6 and record.failed_state == "jobs"
        assert record.error is not None
        assert record.error.job == "broken" and record.error.exit_code == 3
        assert record.error.tail == ["partitioning /dev/vdb", "no space"]
        console = boot.console.getvalue()
        assert "job:        broken, exit code 3" in console and "  | no space" in console

    def test_continue_on_error_lets_the_boot_go_on(self, tmp_path: Path) -> None:
        """A failed continue-on-error job is recorded and the boot still reaches its ending."""
        workflow = FAILING.replace("  broken:\n", "  broken:\n    continue-on-error: true\n")
        boot = make_boot(tmp_path, workflow)
        boot.engine.exit_codes["registry.example/broken:1"] = 3
        assert boot.run() == 0
        statuses = {name: job.status for name, job in boot.record().jobs.items()}
        assert statuses["broken"] == "failed-continued"
        assert statuses["after"] == "succeeded" and statuses["cleanup"] == "skipped"

    def test_timeout_is_the_failure_reason(self, tmp_path: Path) -> None:
        """A job the engine reports as timed out fails with its timeout in the reason."""
        workflow = FAILING.replace("  broken:\n", "  broken:\n    timeout-minutes: 0.01\n")
        boot = make_boot(tmp_path, workflow)
        boot.engine.timeouts.add("registry.example/broken:1")
        boot.run()
        assert "timeout-minutes" in str(boot.record().jobs["broken"].reason)

    def test_service_failure_leaves_no_volume_or_service(self, tmp_path: Path) -> None:
        """A service that cannot start fails the boot in services, and the job's volumes and
        already started services are removed again."""
        workflow = TWO_JOBS.replace(
            "      helper:\n",
            "      first:\n        image: registry.example/first:1\n      helper:\n",
        )
        boot = make_boot(tmp_path, workflow)
        boot.engine.service_errors["registry.example/helper:1"] = "exited with code 1"
        assert boot.run() == 5
        assert boot.record().failed_state == "services"
        assert boot.engine.names("remove_volume") == ["shared"]
        assert not boot.engine.running and not boot.engine.volumes

    def test_images_of_skipped_jobs_are_removed(self, tmp_path: Path) -> None:
        """verify pulls every image; one whose only job is skipped is removed all the same."""
        boot = make_boot(tmp_path, FAILING)
        assert boot.run() == 0
        assert boot.record().jobs["cleanup"].status == "skipped"
        assert not boot.engine.images

    def test_progress_channel_broken_by_a_container_does_not_stop_the_boot(
        self, tmp_path: Path
    ) -> None:
        """A job that turns /iguana/progress into a directory cannot fail the boot."""
        boot = make_boot(tmp_path)
        progress = boot.paths.progress

        def break_progress(spec: object) -> None:
            if not progress.is_dir():
                progress.unlink(missing_ok=True)
                progress.mkdir()

        boot.engine.on_job = break_progress
        assert boot.run() == 0
        assert boot.record().state == "switch_root"

    def test_pull_failure_in_verify_stops_before_any_container(self, tmp_path: Path) -> None:
        """An image that cannot be pulled fails verify; no container is started."""
        boot = make_boot(tmp_path)
        boot.engine.pull_errors["registry.example/install:1"] = "manifest unknown"
        assert boot.run() == 5
        assert boot.record().failed_state == "verify"
        assert boot.engine.names("run_job") == [] and boot.engine.names("start_service") == []

    def test_checkpoint_write_failure_stops_the_boot(self, tmp_path: Path) -> None:
        """A checkpoint that cannot be written ends the boot with code 8, no further stage."""
        boot = make_boot(tmp_path)
        saves = {"n": 0}
        original = CheckpointStore.save

        def flaky(store: CheckpointStore, record: BootRecord) -> None:
            saves["n"] += 1
            if saves["n"] > 3:
                raise CheckpointError(f"{store.path}: cannot write checkpoint: disk full")
            original(store, record)

        pytest.MonkeyPatch.context  # noqa: B018 - keep pytest import used in all versions
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(CheckpointStore, "save", flaky)
            assert boot.run() == 8
        assert "jobs" not in boot.visited

    def test_rescue_reboots_after_delay_without_debug(self, tmp_path: Path) -> None:
        """Without debug the rescue waits rd.iguana.reboot_delay and reboots (recorded)."""
        boot = make_boot(tmp_path, FAILING)
        boot.cmdline = "rd.iguana.reboot_delay=5"
        boot.engine.exit_codes["registry.example/broken:1"] = 1
        boot.run()
        assert boot.host.actions == [
            {"action": "sleep", "seconds": 5.0},
            {"action": "reboot", "reason": "boot failed"},
        ]

    def test_rescue_leaves_shell_in_debug(self, tmp_path: Path) -> None:
        """In debug mode the rescue does not reboot: the initrd opens the emergency shell."""
        boot = make_boot(tmp_path, FAILING)
        boot.cmdline = "rd.iguana.debug"
        boot.engine.exit_codes["registry.example/broken:1"] = 1
        boot.run()
        assert boot.host.actions == []
        assert boot.record().rescue == Rescue(RescueAction.EMERGENCY_SHELL)


WITH_SERVICE_FAILING = """\
jobs:
  broken:
    container: {image: registry.example/broken:1}
    services:
      helper: {image: registry.example/helper:1}
  cleanup:
    if: failure()
    container: {image: registry.example/cleanup:1}
"""


class TestExitCodesDoNotDependOnWhereAnErrorSurfaces:
    def test_engine_error_removing_leftovers_on_resume_exits_5(self, tmp_path: Path) -> None:
        """An engine error while resume removes the old run's containers is an engine error
        (5) of the state resume re-enters, recorded in the checkpoint, not an internal error."""
        boot = make_boot(tmp_path)
        boot.wrap("mount", lambda stage: fail_once("mount", stage, MountError("no root")))
        boot.run()
        boot.engine.leftover_error = "podman service died"
        assert boot.resume() == 5
        record = boot.record()
        assert record.error is not None and record.error.code == 5
        assert "podman service died" in record.error.message
        assert record.failed_state == "mount"

    def test_engine_error_removing_leftovers_on_fresh_run_exits_5(self, tmp_path: Path) -> None:
        """run --fresh that cannot remove the old run's containers exits 5, recorded."""
        boot = make_boot(tmp_path)
        boot.wrap("mount", lambda stage: fail_once("mount", stage, MountError("no root")))
        boot.run()
        boot.engine.leftover_error = "podman service died"
        assert boot.session(str(boot.workflow_file), fresh=True).run() == 5
        record = boot.record()
        assert record.error is not None and record.error.code == 5
        assert record.failed_state == "locate"

    def test_failed_job_whose_service_stop_fails_keeps_its_failure(self, tmp_path: Path) -> None:
        """When stopping a failed job's services raises, the job is recorded failed with its
        own reason, if: failure() jobs still run, and the clean-up problem is a warning."""
        boot = make_boot(tmp_path, WITH_SERVICE_FAILING)
        boot.engine.exit_codes["registry.example/broken:1"] = 3
        boot.engine.stop_errors["registry.example/helper:1"] = "container is stuck"
        code = boot.run()
        record = boot.record()
        assert code == 6
        assert record.jobs["broken"].status == "failed"
        assert record.jobs["broken"].reason == "exited with code 3"
        assert record.jobs["cleanup"].status == "succeeded"
        assert record.error is not None and record.error.job == "broken"
        assert any("container is stuck" in warning for warning in record.warnings)

    def test_engine_stop_error_does_not_change_a_finished_boots_result(
        self, tmp_path: Path
    ) -> None:
        """A boot that reached its ending exits 0 even when stopping the engine then fails;
        the problem is a warning in the record."""
        boot = make_boot(tmp_path)
        boot.engine.engine_stop_error = "podman service would not stop"
        assert boot.run() == 0
        record = boot.record()
        assert record.state == "switch_root" and record.error is None
        assert any("would not stop" in warning for warning in record.warnings)

    def test_engine_stop_error_does_not_change_a_failed_boots_code(self, tmp_path: Path) -> None:
        """A failed boot keeps its own exit code when stopping the engine fails afterwards."""
        boot = make_boot(tmp_path, FAILING)
        boot.engine.exit_codes["registry.example/broken:1"] = 3
        boot.engine.engine_stop_error = "podman service would not stop"
        assert boot.run() == 6
