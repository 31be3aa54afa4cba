# ruff: noqa: F811 - the fixtures world and sandbox are imported from test_boot_runs
"""Kills and faults in real sandbox boots (real podman, a TLS registry on 127.0.0.1, real tmpfs
mounts): SIGKILL at the entry of every state and inside atomic writes, twice in a row, broken
checkpoints and a full ``/iguana``; what ``iguana status`` and ``iguana resume`` make of them
and what is left behind.

The kills come from ``tests/support/kill_at.py``: ``iguana`` itself, killed at a named point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.checkpoint import BootRecord, CheckpointStore
from iguana_fsm.errors import CheckpointError, ExitCode
from tests.integration.test_boot_runs import (  # noqa: F401 - fixtures
    NEW_ROOT,
    Sandbox,
    World,
    job,
    processes_mentioning,
    sandbox,
    world,
)

pytestmark = pytest.mark.integration

TEMP_PREFIXES = (".state.", ".machine-id.", ".workflow.yaml.")
"""The temp files of Iguana's atomic writes (``iguana_fsm/atomic.py``)."""


def killed_at(box: Sandbox, point: str, *iguana: str) -> subprocess.CompletedProcess[str]:
    """``iguana`` with ``iguana`` as its arguments (default: run the box's workflow), SIGKILLed
    at ``point`` (see tests/support/kill_at.py)."""
    if not iguana:
        iguana = ("run", "--sandbox", str(box.top), "--workflow", str(box.workflow), "--batch")
    return subprocess.run(
        [sys.executable, "-m", "tests.support.kill_at", point, *iguana],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def resume(box: Sandbox) -> subprocess.CompletedProcess[str]:
    """``iguana resume`` of the box's boot."""
    return subprocess.run(
        box.command("resume", "--batch"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def status_lines(box: Sandbox) -> subprocess.CompletedProcess[str]:
    """``iguana status`` (the readable form)."""
    return subprocess.run(box.command("status"), capture_output=True, text=True, check=False)


def mounts_under(top: Path) -> list[str]:
    """Mount points at or below ``top``, read from /proc/self/mountinfo (octal escapes undone)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(top) or point.startswith(f"{top}/"):
            found.append(point)
    return found


def temp_files(*directories: Path) -> list[str]:
    """Temp files of atomic writes in ``directories`` and below."""
    found = []
    for directory in directories:
        for _, _, names in os.walk(directory):
            found += [name for name in names if name.startswith(TEMP_PREFIXES)]
    return found


def said(text: str, result: subprocess.CompletedProcess[str]) -> bool:
    """Whether the console shows ``text``, however it was wrapped to the console's width."""
    return "".join(text.split()) in "".join(result.stderr.split())


def one_error_line(result: subprocess.CompletedProcess[str]) -> None:
    """No traceback and no internal error reached the console."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "internal error" not in result.stderr, result.stderr[-3000:]


# ---- an ending chosen is not an ending carried out (point 2) ------------------------------


def test_an_ending_chosen_but_not_carried_out_is_not_finished(
    sandbox: Sandbox, world: World
) -> None:
    """Killed as it enters switch_root, the boot is interrupted (status 12), not finished;
    resume carries the hand-off out and the job does not run again."""
    sandbox.write_workflow(
        {"install": job(world.job_image, "echo run >>/iguana/count\n" + NEW_ROOT)}
    )
    assert killed_at(sandbox, "switch_root").returncode == -9
    code, document = sandbox.status()
    assert code == ExitCode.INTERRUPTED and document["state"] == "switch_root"
    assert document["finished"] is None
    assert "interrupted" in status_lines(sandbox).stdout
    again = resume(sandbox)
    assert again.returncode == 0, again.stderr[-2000:]
    code, document = sandbox.status()
    assert code == 0 and document["handoff"]["started_at"] is not None
    assert document["finished"] is not None
    assert sandbox.read("count") == "run\n"
    refused = resume(sandbox)
    assert refused.returncode == ExitCode.RESUME_REFUSED and "already finished" in refused.stderr


# ---- a resume past the jobs keeps their statuses (point 3) --------------------------------


def test_failure_jobs_stay_skipped_after_a_kill_at_mount(sandbox: Sandbox, world: World) -> None:
    """Killed at mount and resumed, an if: failure() job that did not run is recorded skipped
    with its reason in the finished boot, not left pending."""
    sandbox.write_workflow(
        {
            "install": job(world.job_image, NEW_ROOT),
            "cleanup": {"if": "failure()", **job(world.job_image, "echo ran >/iguana/cleanup")},
        }
    )
    assert killed_at(sandbox, "mount").returncode == -9
    again = resume(sandbox)
    assert again.returncode == 0, again.stderr[-2000:]
    code, document = sandbox.status()
    assert code == 0
    cleanup = document["jobs"]["cleanup"]
    assert cleanup["status"] == "skipped" and "no job has failed" in cleanup["reason"]
    assert not (sandbox.paths.iguana / "cleanup").exists()


# ---- checkpoints that cannot be understood (point 4) --------------------------------------


@pytest.mark.parametrize(
    ("name", "spoil"),
    [
        ("not UTF-8", lambda text: text.replace('"state":', '"st\udcffate":', 1)),
        (
            "unknown job field",
            lambda text: text.replace('"attempts":', '"colour":1,"attempts":', 1),
        ),
        ("unknown state", lambda text: text.replace('"state":"rescue"', '"state":"limbo"', 1)),
        (
            "unknown failed state",
            lambda text: text.replace('"failed_state":"jobs"', '"failed_state":"limbo"', 1),
        ),
    ],
)
def test_a_checkpoint_that_cannot_be_understood_is_exit_8(
    sandbox: Sandbox, world: World, name: str, spoil: Callable[[str], str]
) -> None:
    """status and resume answer a spoilt checkpoint with exit 8 and one line naming the file,
    and leave it as it was."""
    sandbox.write_workflow({"fail": job(world.job_image, "exit 3")})
    assert sandbox.run().returncode == ExitCode.JOB
    state = sandbox.paths.state
    spoilt = spoil(state.read_text()).encode("utf-8", "surrogateescape")
    assert spoilt != state.read_bytes(), name
    state.write_bytes(spoilt)
    status = subprocess.run(sandbox.command("status"), capture_output=True, text=True, check=False)
    again = resume(sandbox)
    for result in (status, again):
        assert result.returncode == ExitCode.CHECKPOINT, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(state) in lines[0] and "Traceback" not in result.stderr
    assert state.read_bytes() == spoilt


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_checkpoint_that_is_no_file_is_exit_8(sandbox: Sandbox, kind: str) -> None:
    """A FIFO or a directory at the checkpoint's name (/iguana is shared with the containers)
    is exit 8 in one line from status and resume, without waiting for a writer."""
    sandbox.paths.iguana.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(sandbox.paths.state)
    else:
        sandbox.paths.state.mkdir()
    for verb in ("status", "resume"):
        result = subprocess.run(
            sandbox.command(verb), capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == ExitCode.CHECKPOINT, result.stderr
        assert (
            result.stderr.strip()
            == f"iguana: {sandbox.paths.state}: cannot read: not a regular file"
        )


# ---- a full /iguana (point 5) --------------------------------------------------------------


def mount_tmpfs(where: Path, size: str) -> None:
    """A tmpfs of ``size`` on ``where`` (the sandbox's clean-up unmounts it)."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)


def fill(path: Path, leave: int = 0) -> None:
    """Fill the file system of ``path`` with the file ``path``, leaving ``leave`` bytes free."""
    with path.open("wb") as handle:
        handle.write(b"\0" * max(free_bytes(path.parent) - leave, 0))
    assert free_bytes(path.parent) <= leave


def free_bytes(directory: Path) -> int:
    """Bytes free for us on the file system of ``directory``."""
    found = os.statvfs(directory)
    return found.f_bavail * found.f_frsize


def test_a_workflow_copy_that_does_not_fit_is_exit_8(sandbox: Sandbox, world: World) -> None:
    """When /iguana (a small tmpfs) has no room for the boot's copy of the workflow, the boot
    stops at fetch with exit 8 in one line naming the file, no internal error; status reads the
    last checkpoint (interrupted) and, once there is room, resume completes the boot."""
    mount_tmpfs(sandbox.paths.iguana, "256k")
    fill(sandbox.paths.iguana / "filler", leave=64 * 1024)
    sandbox.write_workflow({"install": job(world.job_image, NEW_ROOT)})
    with sandbox.workflow.open("a") as handle:  # a workflow larger than the room left
        handle.write(("# padding" + "." * 90 + "\n") * 1200)
    result = sandbox.run()
    assert result.returncode == ExitCode.CHECKPOINT, result.stderr[-3000:]
    one_error_line(result)
    assert said(f"{sandbox.paths.workflow_copy}: No space left on device", result), result.stderr
    code, document = sandbox.status()
    assert code == ExitCode.INTERRUPTED and document["state"] == "fetch"
    assert temp_files(sandbox.paths.iguana) == []
    (sandbox.paths.iguana / "filler").unlink()
    again = resume(sandbox)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sandbox.status()[0] == 0


def test_a_log_that_cannot_be_written_is_exit_8(sandbox: Sandbox, world: World) -> None:
    """When the log file's file system is full (a tmpfs bound onto /iguana/log.jsonl), the boot
    says so once and stops at its next checkpoint with exit 8, the checkpoint as last written;
    once there is room, resume completes the boot."""
    logfs = sandbox.top / "logfs"
    mount_tmpfs(logfs, "64k")
    (logfs / "log.jsonl").touch()
    fill(logfs / "filler", leave=8 * 1024)
    sandbox.paths.iguana.mkdir(parents=True)
    sandbox.paths.log.touch()
    subprocess.run(
        ["mount", "--bind", str(logfs / "log.jsonl"), str(sandbox.paths.log)], check=True
    )
    sandbox.write_workflow(
        {
            "one": job(world.job_image, "echo run >>/iguana/count-one"),
            "two": job(world.job_image, "echo run >>/iguana/count-two\n" + NEW_ROOT),
        }
    )
    result = sandbox.run()
    assert result.returncode == ExitCode.CHECKPOINT, result.stderr[-3000:]
    one_error_line(result)
    assert said(f"iguana: {sandbox.paths.log}: cannot be written: No space left", result)
    code, document = sandbox.status()
    assert code == ExitCode.INTERRUPTED, document
    assert processes_mentioning(str(sandbox.top)) == []
    (logfs / "filler").unlink()
    again = resume(sandbox)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sandbox.status()[0] == 0


def test_a_job_that_fills_iguana_is_exit_8(sandbox: Sandbox, world: World) -> None:
    """A job that fills /iguana (a small tmpfs) ends the boot with exit 8, no internal error;
    the last good checkpoint reads, no temp file is left, and once there is room again resume
    completes the boot."""
    mount_tmpfs(sandbox.paths.iguana, "2m")
    script = "[ -e /iguana/filled ] || { touch /iguana/filled; cat /dev/zero >/iguana/fill || :; }"
    sandbox.write_workflow(
        {"fill": job(world.job_image, script), "after": job(world.job_image, NEW_ROOT)}
    )
    result = sandbox.run()
    assert result.returncode == ExitCode.CHECKPOINT, result.stderr[-3000:]
    one_error_line(result)
    assert said("No space left on device", result), result.stderr
    code, document = sandbox.status()
    assert code == ExitCode.INTERRUPTED
    assert document["jobs"]["fill"]["status"] in ("running", "succeeded")
    assert temp_files(sandbox.paths.iguana) == []
    (sandbox.paths.iguana / "fill").unlink()
    again = resume(sandbox)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sandbox.status()[0] == 0


def test_a_journal_line_cut_short_is_taken_back(tmp_path: Path) -> None:
    """On a tmpfs that runs full, the checkpoint journal keeps whole lines only: the save that
    did not fit is a CheckpointError and the checkpoint loads as the last save that did."""
    where = tmp_path / "small"
    mount_tmpfs(where, "8k")
    try:
        store = CheckpointStore(where / "state")
        record = BootRecord(run_id="r" * 32, state="jobs")
        store.save(record)
        fill(where / "filler", leave=4096)  # one page: the journal fills it, then runs out
        last = record.to_json()
        with pytest.raises(CheckpointError, match="No space left on device"):
            for n in range(10_000):
                record.warnings.append(f"warning {n}: " + "w" * 150)
                store.save(record)
                last = record.to_json()
        journal = (where / "state.journal").read_bytes()
        assert journal.endswith(b"\n")
        assert CheckpointStore(where / "state").load().to_json() == last
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


# ---- SIGKILL at every transition, and twice in a row (point 1, the invariants) ------------

SERVICE = (
    "echo from-the-service >/vol/seen\ntouch /tmp/ready\ntrap 'exit 0' TERM\n"
    "while :; do sleep 1; done"
)


def four_jobs(world: World, install: str = NEW_ROOT) -> dict[str, Any]:
    """A job with a service and a named volume, a failing continue-on-error job, the
    installer, and an if: failure() job; each counts its runs in /iguana/count-NAME."""

    def counted(name: str, script: str, **keys: Any) -> dict[str, Any]:
        return job(world.job_image, f"echo run >>/iguana/count-{name}\n{script}", **keys)

    service = job(world.checked_image, SERVICE, volumes=["shared:/vol"])["container"]
    return {
        "prepare": {
            "services": {"volume-writer": service},
            **counted("prepare", "cat /vol/seen >/iguana/seen", volumes=["shared:/vol:ro"]),
        },
        "optional": counted("optional", "exit 3", **{"continue-on-error": True}),
        "install": counted("install", install, needs="prepare"),
        "on-failure": counted("on-failure", "true", **{"if": "failure()"}),
    }


UNLESS_FIXED = "[ -e /iguana/fixed ] || { echo 'not fixed yet' >&2; exit 4; }\n" + NEW_ROOT
"""An installer that fails until /iguana/fixed exists: the boot goes to failed and rescue."""

HAPPY = {
    "prepare": "succeeded",
    "optional": "failed-continued",
    "install": "succeeded",
    "on-failure": "skipped",
}


def counts(box: Sandbox) -> dict[str, int]:
    """How often each job's container ran."""
    found = {}
    for name in HAPPY:
        path = box.paths.iguana / f"count-{name}"
        found[name] = len(path.read_text().splitlines()) if path.exists() else 0
    return found


@dataclass
class Killed:
    """A boot after a kill: its status then."""

    code: int
    document: dict[str, Any]
    counts: dict[str, int]


def after_kill(box: Sandbox, result: subprocess.CompletedProcess[str]) -> Killed:
    """Check that ``result`` was killed; what status says now."""
    assert result.returncode == -9, result.stderr[-3000:]
    code, document = box.status()
    return Killed(code, document, counts(box))


def check_invariants(box: Sandbox, killed: list[Killed], expected: dict[str, str]) -> None:
    """After the last resume: the ending reached, the statuses consistent, no job that had
    succeeded ran again, and no process, mount, container, volume or temp file left."""
    code, document = box.status()
    assert code == 0, document
    assert document["state"] == "switch_root" and document["error"] is None
    assert document["finished"] is not None and document["handoff"]["started_at"] is not None
    jobs = document["jobs"]
    assert {name: record["status"] for name, record in jobs.items()} == expected
    assert document["current_job"] is None and document["services"] == {}
    ran = counts(box)
    for name, record in jobs.items():
        assert ran[name] == record["attempts"], (name, ran, record)
        if record["status"] == "skipped":
            assert record["reason"] and record["exit_code"] is None
        else:
            assert record["exit_code"] == (0 if record["status"] == "succeeded" else 3)
            assert record["finished"] >= record["started"]
    for before in killed:
        for name, record in before.document.get("jobs", {}).items():
            if record["status"] == "succeeded":
                assert ran[name] == before.counts[name], f"{name} ran again"
    assert box.read("seen") == "from-the-service\n"
    assert processes_mentioning(str(box.top)) == []
    assert mounts_under(box.top) == []
    assert temp_files(box.paths.iguana, box.paths.newroot) == []
    assert box.podman.run("ps", "--all", "--quiet").stdout.split() == []
    assert box.podman.run("volume", "ls", "--quiet").stdout.split() == []


ENTRIES = [
    "locate",
    "fetch",
    "verify",
    "services@1",
    "jobs@1",
    "services@2",
    "jobs@2",
    "services@3",
    "jobs@3",
    "mount",
    "switch_root",
]
"""Every state a boot of ``four_jobs`` enters, services and jobs once per job that runs."""

INSIDE = [
    "call:iguana_fsm.engine.api:PodmanApiProcess._wait_ready",
    "write:workflow.yaml",
    "write:machine-id",
    "write:state@verify",
    "write:state@mount",
]
"""Kills while the podman service starts, and inside atomic writes (a temp file written, not
yet renamed)."""


@pytest.mark.parametrize("point", ENTRIES + INSIDE)
def test_a_kill_then_resume(sandbox: Sandbox, world: World, point: str) -> None:
    """SIGKILL at ``point`` leaves an interrupted boot (status 12) that one resume completes,
    with the invariants of ``check_invariants``."""
    sandbox.write_workflow(four_jobs(world))
    killed = after_kill(sandbox, killed_at(sandbox, point))
    assert killed.code == ExitCode.INTERRUPTED, killed.document
    again = resume(sandbox)
    assert again.returncode == 0, again.stderr[-3000:]
    check_invariants(sandbox, [killed], HAPPY)


@pytest.mark.parametrize(
    ("first", "second"),
    [("jobs@1", "jobs@1"), ("verify", "jobs@2"), ("services@3", "mount"), ("mount", "switch_root")],
)
def test_a_resume_killed_too(sandbox: Sandbox, world: World, first: str, second: str) -> None:
    """The boot killed at ``first`` and its resume killed at ``second`` (counted from the
    resume's start): a second resume completes it with the same invariants."""
    sandbox.write_workflow(four_jobs(world))
    killed = [after_kill(sandbox, killed_at(sandbox, first))]
    resumed = killed_at(sandbox, second, "resume", "--sandbox", str(sandbox.top), "--batch")
    killed.append(after_kill(sandbox, resumed))
    assert killed[-1].code == ExitCode.INTERRUPTED, killed[-1].document
    again = resume(sandbox)
    assert again.returncode == 0, again.stderr[-3000:]
    check_invariants(sandbox, killed, HAPPY)


@pytest.mark.parametrize("point", ["failed", "rescue"])
def test_a_kill_on_the_failure_path(sandbox: Sandbox, world: World, point: str) -> None:
    """A boot whose installer fails, killed as it enters ``point``: status gives the job's
    failure (6); once fixed, resume runs only the installer again and reaches the ending with
    the same invariants (the if: failure() job ran once, in the failed boot)."""
    sandbox.write_workflow(four_jobs(world, UNLESS_FIXED))
    killed = after_kill(sandbox, killed_at(sandbox, point))
    assert killed.code == ExitCode.JOB, killed.document
    assert killed.document["jobs"]["install"]["status"] == "failed"
    (sandbox.paths.iguana / "fixed").touch()
    again = resume(sandbox)
    assert again.returncode == 0, again.stderr[-3000:]
    expected = {**HAPPY, "on-failure": "succeeded"}
    check_invariants(sandbox, [killed], expected)
    assert counts(sandbox)["install"] == 2
