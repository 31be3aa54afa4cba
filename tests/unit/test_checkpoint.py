"""The checkpoint store: typed record, version-1 checkpoints read through a migration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iguana_fsm.checkpoint import SCHEMA_VERSION, CheckpointStore, decode, encode, migrate_v1
from iguana_fsm.errors import CheckpointError, ExitCode
from iguana_fsm.record import (
    HISTORY_KEPT,
    BootError,
    BootRecord,
    Ending,
    Handoff,
    ImageTrust,
    JobRecord,
    JobStatus,
    MountedEntry,
    RescueAction,
    Transition,
)
from tests.unit.boot_harness import Boot, boot_holding

DATA = Path(__file__).parent / "data"
V1_FAILED_JOB = DATA / "checkpoint-v1-failed-job.json"
"""Written by Iguana before schema 2 (commit 004d3ae, the unit harness): a boot whose
job ``install`` failed, ``cleanup`` ran, ``finish`` was skipped, then the rescue."""
V1_WORKFLOW = DATA / "checkpoint-v1-workflow.yaml"


def v1_boot(top: Path) -> Boot:
    """A sandbox holding the version-1 checkpoint, its workflow and its kept command line."""
    return boot_holding(top, V1_WORKFLOW, V1_FAILED_JOB)


class TestVersion1:
    def test_a_version_1_checkpoint_resumes_with_this_code(self, tmp_path: Path) -> None:
        """A checkpoint written by the version-1 code resumes: the failed job and the one it
        skipped run, the jobs that succeeded do not, and the record is saved in this version's
        schema."""
        boot = v1_boot(tmp_path)
        assert boot.resume() == 0
        ran = [name.rsplit("-", 1)[-1] for name in boot.engine.names("run_job")]
        assert ran == ["install", "finish"]
        record = boot.record()
        assert json.loads(boot.paths.state.read_text())["schema"] == SCHEMA_VERSION
        assert record.state == "switch_root" and record.error is None
        assert {name: job.status for name, job in record.jobs.items()} == {
            "prepare": JobStatus.SUCCEEDED,
            "install": JobStatus.SUCCEEDED,
            "cleanup": JobStatus.SUCCEEDED,
            "finish": JobStatus.SUCCEEDED,
        }
        assert record.jobs["install"].attempts == 2
        assert record.trust.images["registry.example/helper:1"].signature == "not required"
        assert any(step.trigger == "resume" for step in record.history)

    def test_version_1_fields_land_in_their_typed_homes(self) -> None:
        """details' cmdline, trust, rescue and the error become typed fields; history steps
        keep their order and times."""
        data = json.loads(V1_FAILED_JOB.read_text(encoding="utf-8"))
        record = decode(data, "fixture")
        assert record.cmdline is not None and "rd.iguana.control_url=" in record.cmdline
        assert record.trust.workflow is not None and record.trust.workflow.kind == "file"
        assert record.rescue is not None and record.rescue.action == RescueAction.REBOOT
        assert record.rescue.delay == 30.0
        assert record.error is not None and record.error.code == ExitCode.JOB
        assert record.error.job == "install" and record.error.tail[-1] == "no space left"
        assert [step.dest for step in record.history] == [step["to"] for step in data["history"]]
        assert record.history[0].at == data["history"][0]["at"]
        assert record.transitions == len(data["history"])

    def test_version_1_handoff_skipped_mounts_become_a_flag(self) -> None:
        """A version-1 hand-off with ``"mounts": "skipped"`` reads as mounts_skipped, a list of
        mounts as MountedEntry values, and a failed kexec keeps the decision it replaced."""
        skipped = migrate_v1(
            {
                "schema": 1,
                "run_id": "r",
                "state": "switch_root",
                "handoff": {"action": "switch_root", "reason": "r", "mounts": "skipped"},
            }
        )
        assert decode(skipped, "x").handoff == Handoff(Ending.SWITCH_ROOT, "r", mounts_skipped=True)
        mounted = {"line": 1, "device": "LABEL=r", "source": "/dev/vda2", "mountpoint": "/"}
        fallback = {
            "action": "reboot",
            "reason": "kexec failed: x",
            "fallback_from": "kexec",
            "kexec": {"action": "kexec", "reason": "k", "kernel": "/boot/k", "mounts": [mounted]},
        }
        record = decode(migrate_v1({"schema": 1, "run_id": "r", "state": "reboot",
                                    "handoff": fallback}), "x")  # fmt: skip
        assert record.handoff is not None and record.handoff.fallback_from == Ending.KEXEC
        assert record.handoff.kexec is not None
        assert record.handoff.kexec.mounts == [MountedEntry(1, "LABEL=r", "/dev/vda2", "/")]
        assert not record.handoff.kexec.mounts_skipped


class TestStore:
    def test_round_trip_keeps_every_typed_field(self, tmp_path: Path) -> None:
        """What is saved loads back equal, enums and nested records included."""
        store = CheckpointStore(tmp_path / "state")
        record = BootRecord(run_id="r", state="mount")
        record.handoff = Handoff(Ending.KEXEC, "k", mounts=[MountedEntry(1, "d", "s", "/")])
        record.add_transition(Transition("jobs", "mount", "jobs_done", at=1.0))
        store.save(record)
        assert store.load() == record

    def test_history_is_bounded(self) -> None:
        """The record keeps the last HISTORY_KEPT transitions and counts them all."""
        record = BootRecord(run_id="r", state="jobs")
        for n in range(HISTORY_KEPT + 10):
            record.add_transition(Transition("jobs", "services", "next_job", at=float(n)))
        assert len(record.history) == HISTORY_KEPT
        assert record.history[0].at == 10.0 and record.transitions == HISTORY_KEPT + 10

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"schema": 0}, "schema 0 is not one Iguana writes"),
            ({"schema": "3"}, "schema '3' is not one Iguana writes"),
            ({"jobs": {"a": {"status": "exploded"}}}, "jobs.a.status: 'exploded' is not"),
            ({"error": {"state": "x", "message": "m", "code": "six"}}, "error.code"),
            ({"surprise": 1}, "unknown key 'surprise'"),
        ],
    )
    def test_a_value_that_does_not_fit_names_its_key(
        self, tmp_path: Path, change: dict[str, object], message: str
    ) -> None:
        """A checkpoint whose value does not fit the record is a CheckpointError naming the
        file and the key path."""
        path = tmp_path / "state"
        data = BootRecord(run_id="r", state="jobs").to_json()
        data.update(change)
        path.write_text(json.dumps(data))
        with pytest.raises(CheckpointError, match=message) as caught:
            CheckpointStore(path).load()
        assert str(path) in str(caught.value)


class TestEncoding:
    def test_encoder_writes_what_to_plain_describes(self) -> None:
        """The C-encoder form of a record is the same JSON as its field-by-field plain form."""
        record = BootRecord(run_id="r", state="reboot", sandbox=True)
        record.jobs["a"] = JobRecord(JobStatus.FAILED, exit_code=3, tail=["x", "ü"])
        record.error = BootError("jobs", "job a failed", ExitCode.JOB, job="a", exit_code=3)
        record.handoff = Handoff(
            Ending.REBOOT, "k", fallback_from=Ending.KEXEC, kexec=Handoff(Ending.KEXEC, "x")
        )
        record.trust.images["i"] = ImageTrust("r", None, "sha256:1", "not required")
        assert json.loads(encode(record)) == record.to_json()
        assert '"code":6' in encode(record) and '"status":"failed"' in encode(record)
