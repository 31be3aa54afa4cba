"""Whole boots through the ``iguana`` command (a subprocess, as an operator runs it) against real
podman and a real TLS docker-registry on 127.0.0.1: ``iguana run --sandbox`` on small busybox
workflows, then ``iguana status`` and what is left in the sandbox's podman storage.

Every job runs the same tiny image, whose command is ``eval "$IGT_SCRIPT"``: the workflow's env
says what each container does. The world (CA, registry, images) is built once per module; each
test gets a fresh sandbox under /tmp (podman refuses long runroot paths).
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from iguana_fsm.errors import EngineError, ExitCode, JobFailed, PullError, ResumeRefused
from iguana_fsm.paths import Paths
from tests.integration.trust_support import CertAuthority, unmount_under
from tests.support.images import build_image, push_image
from tests.support.podman_cli import PodmanCli
from tests.support.registry import Registry, free_port

pytestmark = pytest.mark.integration

IGUANA = [sys.executable, "-m", "iguana_fsm"]
RUN_SCRIPT = 'eval "$IGT_SCRIPT"'
# A second image with other content (so another digest) for the image-removal checks.
OTHER_SCRIPT = ': other; eval "$IGT_SCRIPT"'
NEW_ROOT = (
    'mkdir -p "/iguana/root/lib/modules/$(uname -r)" && echo "/iguana/root /" >/iguana/mountlist'
)
"""A job script tail that prepares a directory root the sandbox mounts: the boot then ends."""


@dataclass(frozen=True)
class World:
    """The registry and the images every test boot pulls."""

    registry: Registry
    ca: Path
    job_image: str
    other_image: str
    # the job image's very content under another repository name: same image id
    alias_image: str
    # a health check that passes once /tmp/ready exists: a service is not ready before that
    checked_image: str
    podman_env: Mapping[str, str]


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    podman_environment: dict[str, str],
    busybox_rootfs: Path,
) -> Iterator[World]:
    """A TLS registry on 127.0.0.1 holding the two test images, built offline once."""
    top = tmp_path_factory.mktemp("boot-world")
    ca = CertAuthority.create(top / "ca")
    build_dir = Path(tempfile.mkdtemp(prefix="igb-build-", dir="/tmp"))
    podman = PodmanCli(build_dir / "root", build_dir / "runroot", podman_environment)
    try:
        with Registry(top / "registry", tls=ca.server_cert(top / "server"), ca=ca.cert) as registry:
            images = {}
            for name, script, check in (
                ("job", RUN_SCRIPT, None),
                ("other", OTHER_SCRIPT, None),
                ("checked", RUN_SCRIPT, "test -e /tmp/ready"),
            ):
                local = build_image(
                    podman, f"localhost/igt/{name}:1", script, busybox_rootfs, healthcheck=check
                )
                remote = f"{registry.host}/igt/{name}:1"
                push_image(podman, local, remote, tls_verify=False)
                images[name] = remote
            alias = f"{registry.host}/igt/alias:1"
            push_image(podman, "localhost/igt/job:1", alias, tls_verify=False)
            podman.run("rmi", "--all", "--force")
            yield World(
                registry,
                ca.cert,
                images["job"],
                images["other"],
                alias,
                images["checked"],
                podman_environment,
            )
    finally:
        unmount_under(build_dir)
        shutil.rmtree(build_dir, ignore_errors=True)


class Sandbox:
    """One sandbox directory: its trust config, workflow, ``iguana`` runs and podman view."""

    def __init__(self, top: Path, world: World) -> None:
        self.top = top
        self.world = world
        self.paths = Paths.for_sandbox(top)
        self.paths.config.mkdir(parents=True)
        # only the test repositories are allowed, and the registry's CA is trusted
        (self.paths.config / "registries.conf").write_text(f"{world.registry.host}/igt\n")
        shutil.copyfile(world.ca, self.paths.config / "ca.pem")
        self.workflow = top / "workflow.yaml"
        self.podman = PodmanCli.for_paths(self.paths, world.podman_env)

    def write_workflow(self, jobs: Mapping[str, Any], **top: Any) -> Path:
        """Write the workflow (``jobs`` and other top-level keys) as YAML."""
        document = {"name": "boot-test", **top, "jobs": dict(jobs)}
        self.workflow.write_text(yaml.safe_dump(document, sort_keys=False))
        return self.workflow

    def command(self, verb: str, *args: str) -> list[str]:
        """``iguana VERB --sandbox TOP ARGS``."""
        return [*IGUANA, verb, "--sandbox", str(self.top), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``iguana run`` on the workflow, not attached to a console."""
        return subprocess.run(
            self.command("run", "--workflow", str(self.workflow), "--batch", *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def status(self) -> tuple[int, dict[str, Any]]:
        """``iguana status --json``: its exit code and document."""
        result = subprocess.run(
            self.command("status", "--json"), capture_output=True, text=True, check=False
        )
        assert result.stdout, result.stderr
        return result.returncode, json.loads(result.stdout)

    def read(self, name: str) -> str:
        """A file the containers wrote into /iguana."""
        return (self.paths.iguana / name).read_text()

    def labelled(self, run_id: str) -> list[str]:
        """Containers of ``run_id`` still in the sandbox's storage."""
        return self.podman.labelled(f"iguana.run={run_id}")

    def images(self) -> list[str]:
        """Image ids in the sandbox's storage."""
        return self.podman.run("images", "--quiet", "--no-trunc").stdout.split()

    def close(self) -> None:
        """Stop what the boots left (containers, podman services), unmount and delete."""
        if self.paths.storage is not None and self.paths.storage.exists():
            self.podman.run("rm", "--all", "--force", "--time", "0", check=False)
            self.podman.run("volume", "rm", "--all", "--force", check=False)
        for pid in processes_mentioning(str(self.top)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        unmount_under(self.top)
        shutil.rmtree(self.top, ignore_errors=True)


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (the podman services of a sandbox)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


@pytest.fixture
def sandbox(world: World) -> Iterator[Sandbox]:
    """A fresh sandbox with a short path under /tmp, removed with everything in it."""
    box = Sandbox(Path(tempfile.mkdtemp(prefix="igb-", dir="/tmp")), world)
    try:
        yield box
    finally:
        box.close()


def job(image: str, script: str, **keys: Any) -> dict[str, Any]:
    """A workflow job whose container runs ``script``; ``keys`` go into the job as they are."""
    env = {"IGT_SCRIPT": f"set -eu\n{script}", **keys.pop("env", {})}
    container: dict[str, Any] = {"image": image, "env": env}
    if "volumes" in keys:
        container["volumes"] = keys.pop("volumes")
    return {"container": container, **keys}


def run_id_of(document: Mapping[str, Any]) -> str:
    """The run id of a status document."""
    return str(document["run_id"])


# ---- a boot that succeeds: checked once, from several sides --------------------------------

SERVICE_SCRIPT = """\
echo "written by the service" >/vol/from-service
mkdir -p /www && echo pong >/www/ping
trap 'exit 0' TERM
httpd -f -p "127.0.0.1:$PORT" -h /www &
wait
"""

USER_SCRIPT = """\
cat /vol/from-service >/iguana/volume-seen
for attempt in $(seq 100); do
    wget -q -O /iguana/http-seen "http://127.0.0.1:$PORT/ping" && break
    sleep 0.1
done
cat /iguana/token >/iguana/token-seen
"""


SECRET = "s3cr3t-Value-9f2c"
"""An env value not named in public-env: it must reach the container and nothing else."""


@dataclass(frozen=True)
class Finished:
    """A finished boot: its sandbox, run result and status."""

    box: Sandbox
    run: subprocess.CompletedProcess[str]
    status_code: int
    status: dict[str, Any]
    took: float


@pytest.fixture(scope="module")
def happy(world: World) -> Iterator[Finished]:
    """One successful boot: env layering, a token in /iguana, a service with a shared volume
    on host networking, a new root; run once for the checks below."""
    box = Sandbox(Path(tempfile.mkdtemp(prefix="igb-", dir="/tmp")), world)
    port = str(free_port())
    try:
        box.write_workflow(
            {
                "first": job(
                    world.job_image,
                    "env >/iguana/first.env\necho token-$$-$(date +%s%N) >/iguana/token",
                    env={"LAYER_B": "container", "LAYER_C": "container"},
                ),
                "second": {
                    "needs": "first",
                    "services": {
                        "web": job(
                            world.other_image,
                            SERVICE_SCRIPT,
                            env={"PORT": port},
                            volumes=["shared:/vol"],
                        )["container"]
                    },
                    **job(
                        world.job_image,
                        USER_SCRIPT + NEW_ROOT,
                        env={"PORT": port},
                        volumes=["shared:/vol:ro"],
                    ),
                },
            },
            env={
                "LAYER_A": "workflow",
                "LAYER_B": "workflow",
                "LAYER_C": "workflow",
                "IGUANA": "false",
                "IGT_SECRET": SECRET,
            },
        )
        began = time.monotonic()
        result = box.run("--cmdline", "rd.iguana.env=LAYER_C=cmdline")
        took = time.monotonic() - began
        code, document = box.status()
        yield Finished(box, result, code, document, took)
    finally:
        box.close()


def parse_env(text: str) -> dict[str, str]:
    """``env`` output as a dict (single-line values)."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


class TestSuccessfulBoot:
    """A two-job boot with a service, as ``iguana run --sandbox`` carries it out."""

    def test_reaches_its_ending(self, happy: Finished) -> None:
        """The boot ends in switch_root: run and status both exit 0, every job succeeded."""
        assert happy.run.returncode == 0, happy.run.stderr[-3000:]
        assert happy.status_code == 0
        assert happy.status["state"] == "switch_root"
        assert happy.status["error"] is None
        assert {name: j["status"] for name, j in happy.status["jobs"].items()} == {
            "first": "succeeded",
            "second": "succeeded",
        }

    def test_env_layers(self, happy: Finished) -> None:
        """Inside the container: workflow < container < rd.iguana.env, and IGUANA=true wins."""
        env = parse_env(happy.box.read("first.env"))
        assert env["LAYER_A"] == "workflow"
        assert env["LAYER_B"] == "container"
        assert env["LAYER_C"] == "cmdline"
        assert env["IGUANA"] == "true"

    def test_secret_reaches_the_container_but_no_log(self, happy: Finished) -> None:
        """An env value not in public-env is in the container, never in log, checkpoint or
        console."""
        assert parse_env(happy.box.read("first.env"))["IGT_SECRET"] == SECRET
        assert SECRET not in happy.box.paths.log.read_text()
        assert SECRET not in happy.box.paths.state.read_text()
        assert SECRET not in happy.run.stderr + happy.run.stdout

    def test_iguana_dir_shared_between_containers(self, happy: Finished) -> None:
        """What the first job wrote into /iguana, the second job read there."""
        token = happy.box.read("token")
        assert token.startswith("token-")
        assert happy.box.read("token-seen") == token

    def test_service_reachable_over_host_network(self, happy: Finished) -> None:
        """The job reached its service's http server on 127.0.0.1 (host networking)."""
        assert happy.box.read("http-seen") == "pong\n"

    def test_named_volume_shared(self, happy: Finished) -> None:
        """The job read, from the named volume, the file its service wrote there."""
        assert happy.box.read("volume-seen") == "written by the service\n"

    def test_containers_removed(self, happy: Finished) -> None:
        """No container of the run is left, the service included (podman ps -a)."""
        assert happy.box.labelled(run_id_of(happy.status)) == []
        assert happy.box.podman.run("ps", "--all", "--quiet").stdout.split() == []

    def test_named_volume_removed(self, happy: Finished) -> None:
        """The named volume is gone after its job."""
        assert not happy.box.podman.exists("volume", "shared")

    def test_images_removed_after_use(self, happy: Finished) -> None:
        """Both images were pulled and are no longer in the storage after the boot."""
        assert set(happy.status["images"]) == {
            happy.box.world.job_image,
            happy.box.world.other_image,
        }
        assert happy.box.images() == []

    def test_progress_lines(self, happy: Finished) -> None:
        """/iguana/progress got a one-line message for each job and service."""
        progress = happy.box.read("progress").splitlines()
        assert "Running job first" in progress
        assert "Running job second" in progress
        assert "Starting service web of job second" in progress

    def test_no_podman_service_left(self, happy: Finished) -> None:
        """The boot's own podman service stopped with it."""
        assert processes_mentioning(str(happy.box.top)) == []

    def test_a_service_without_health_check_is_not_ready_silently(self, happy: Finished) -> None:
        """The service's image has no health check (podman build's OCI format drops one): the
        log and the console say it counts as ready without a check, and why."""
        events = [json.loads(line) for line in happy.box.read("log.jsonl").splitlines()]
        (warning,) = [event for event in events if event["event"] == "service.unchecked"]
        assert warning["level"] == "warning" and warning["service"].endswith("web")
        assert "--format docker" in warning["why"]
        assert "service.unchecked" in happy.run.stderr


# ---- failures, conditions, timeouts ------------------------------------------------------


class TestFailingBoot:
    """Jobs that fail, what is skipped and what runs on failure."""

    def test_exit_code_needs_and_failure_cleanup(self, sandbox: Sandbox, world: World) -> None:
        """A job exiting 7 fails the boot (exit 6); its dependant is skipped, an unrelated later
        job too, and the ``if: failure()`` cleanup runs; status --json shows all of it."""
        sandbox.write_workflow(
            {
                "breaks": job(world.job_image, "echo about to fail\nexit 7"),
                "after": job(world.job_image, "touch /iguana/after-ran", needs="breaks"),
                "unrelated": job(world.job_image, "touch /iguana/unrelated-ran"),
                "cleanup": job(world.job_image, "touch /iguana/cleanup-ran", **{"if": "failure()"}),
            }
        )
        result = sandbox.run()
        assert result.returncode == JobFailed.exit_code, result.stderr[-3000:]
        assert "breaks" in result.stderr
        code, document = sandbox.status()
        assert code == JobFailed.exit_code
        jobs = document["jobs"]
        assert jobs["breaks"]["status"] == "failed"
        assert jobs["breaks"]["exit_code"] == 7
        assert "about to fail" in jobs["breaks"]["tail"]
        assert jobs["after"]["status"] == "skipped"
        assert jobs["unrelated"]["status"] == "skipped"
        assert jobs["cleanup"]["status"] == "succeeded"
        assert (sandbox.paths.iguana / "cleanup-ran").exists()
        assert not (sandbox.paths.iguana / "after-ran").exists()
        assert not (sandbox.paths.iguana / "unrelated-ran").exists()
        assert document["error"]["code"] == JobFailed.exit_code
        assert sandbox.labelled(run_id_of(document)) == []

    def test_timeout_stops_the_job(self, sandbox: Sandbox, world: World) -> None:
        """A job running past timeout-minutes is stopped and fails the boot, in seconds."""
        sandbox.write_workflow(
            {
                "slow": job(
                    world.job_image,
                    "touch /iguana/slow-started\ntrap 'exit 143' TERM\nsleep 600 &\nwait",
                    **{"timeout-minutes": 0.05},
                )
            }
        )
        began = time.monotonic()
        result = sandbox.run()
        took = time.monotonic() - began
        assert result.returncode == JobFailed.exit_code, result.stderr[-3000:]
        assert took < 60
        _, document = sandbox.status()
        slow = document["jobs"]["slow"]
        assert slow["status"] == "failed"
        assert "timeout-minutes" in slow["reason"]
        assert (sandbox.paths.iguana / "slow-started").exists()
        assert sandbox.labelled(run_id_of(document)) == []

    def test_missing_image_fails_with_podmans_words(self, sandbox: Sandbox, world: World) -> None:
        """Pulling an image the registry does not have fails the boot with podman's message."""
        missing = f"{world.registry.host}/igt/missing:1"
        sandbox.write_workflow({"ghost": job(missing, "true")})
        result = sandbox.run()
        assert result.returncode == PullError.exit_code, result.stderr[-3000:]
        code, document = sandbox.status()
        assert code == PullError.exit_code
        message = document["error"]["message"]
        assert missing in message
        assert "manifest unknown" in message
        assert document["jobs"].get("ghost", {}).get("status", "pending") == "pending"

    def service_exits_early(self, sandbox: Sandbox, world: World) -> dict[str, Any]:
        """Boot a job whose service (sharing a named volume) exits 3 before its health check
        ever passed."""
        sandbox.write_workflow(
            {
                "uses-db": {
                    "services": {
                        "db": job(
                            world.checked_image,
                            "sleep 1\necho 'db: no disk' >&2\nexit 3",
                            volumes=["dbdata:/data"],
                        )["container"]
                    },
                    **job(world.job_image, "touch /iguana/job-ran", volumes=["dbdata:/data"]),
                }
            }
        )
        result = sandbox.run()
        assert result.returncode == EngineError.exit_code, result.stderr[-3000:]
        return sandbox.status()[1]

    def test_service_exiting_early_fails_the_boot(self, sandbox: Sandbox, world: World) -> None:
        """A service that exits before it is ready fails the boot with its exit code and last
        words, the job does not run and no container of the run is left."""
        document = self.service_exits_early(sandbox, world)
        message = document["error"]["message"]
        assert "exited with code 3" in message
        assert "db: no disk" in message
        assert not (sandbox.paths.iguana / "job-ran").exists()
        assert sandbox.labelled(run_id_of(document)) == []

    def test_service_exiting_early_leaves_no_volume(self, sandbox: Sandbox, world: World) -> None:
        """After a service failed to start, the named volume created for its job is gone."""
        self.service_exits_early(sandbox, world)
        assert not sandbox.podman.exists("volume", "dbdata")

    def test_fix_and_resume_after_a_failed_job(self, sandbox: Sandbox, world: World) -> None:
        """A failed boot resumes once the cause is fixed: with a changed workflow resume is
        refused (exit 9); unchanged, only the failed job runs again and the boot ends."""
        sandbox.write_workflow(
            {
                "first": job(world.job_image, "echo run >>/iguana/count-first"),
                "second": job(
                    world.job_image,
                    "echo run >>/iguana/count-second\n"
                    "[ -e /iguana/fixed ] || { echo 'not fixed yet' >&2; exit 3; }\n" + NEW_ROOT,
                ),
            }
        )
        assert sandbox.run().returncode == JobFailed.exit_code
        original = sandbox.workflow.read_text()
        sandbox.workflow.write_text(original + "# edited in the rescue shell\n")
        resume = sandbox.command("resume", "--batch")
        refused = subprocess.run(resume, capture_output=True, text=True, check=False, timeout=120)
        assert refused.returncode == ResumeRefused.exit_code, refused.stderr[-3000:]
        assert "workflow changed" in refused.stderr
        sandbox.workflow.write_text(original)
        (sandbox.paths.iguana / "fixed").touch()
        resumed = subprocess.run(resume, capture_output=True, text=True, check=False, timeout=120)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        code, document = sandbox.status()
        assert code == 0
        assert sandbox.read("count-first") == "run\n"
        assert sandbox.read("count-second") == "run\nrun\n"
        assert document["jobs"]["second"]["attempts"] == 2
        assert document["jobs"]["second"]["status"] == "succeeded"


def test_image_kept_for_a_skipped_job_is_removed(sandbox: Sandbox, world: World) -> None:
    """An image whose only later user is skipped is gone from the storage after the boot."""
    sandbox.write_workflow(
        {
            "install": job(world.job_image, NEW_ROOT),
            "on-failure": job(world.job_image, "true", **{"if": "failure()"}),
        }
    )
    result = sandbox.run()
    assert result.returncode == 0, result.stderr[-3000:]
    _, document = sandbox.status()
    assert document["jobs"]["on-failure"]["status"] == "skipped"
    assert sandbox.images() == []


def test_same_image_under_two_names(sandbox: Sandbox, world: World) -> None:
    """A job whose image is the earlier job's image under another repository name still
    runs after the earlier job's clean-up removed that image."""
    sandbox.write_workflow(
        {
            "first": job(world.job_image, "true"),
            "second": job(world.alias_image, NEW_ROOT),
        }
    )
    result = sandbox.run()
    assert result.returncode == 0, result.stderr[-3000:]
    _, document = sandbox.status()
    assert [document["jobs"][name]["status"] for name in ("first", "second")] == [
        "succeeded",
        "succeeded",
    ]
    assert sandbox.images() == []


def test_continue_on_error_job_does_not_stop_the_boot(sandbox: Sandbox, world: World) -> None:
    """A failing continue-on-error job is recorded with its exit code; the next job runs and
    the boot reaches its ending (status 0)."""
    sandbox.write_workflow(
        {
            "optional": job(world.job_image, "exit 2", **{"continue-on-error": True}),
            "next": job(world.job_image, "touch /iguana/next-ran\n" + NEW_ROOT),
        }
    )
    result = sandbox.run()
    assert result.returncode == 0, result.stderr[-3000:]
    code, document = sandbox.status()
    assert code == 0
    assert document["jobs"]["optional"]["status"] == "failed-continued"
    assert document["jobs"]["optional"]["exit_code"] == 2
    assert document["jobs"]["next"]["status"] == "succeeded"
    assert (sandbox.paths.iguana / "next-ran").exists()


def test_debug_keeps_images(sandbox: Sandbox, world: World) -> None:
    """With rd.iguana.debug the images stay in the storage after their last use."""
    sandbox.write_workflow({"only": job(world.job_image, NEW_ROOT)})
    result = sandbox.run("--cmdline", "rd.iguana.debug=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(sandbox.images()) == 1


def test_status_while_running_and_wait(sandbox: Sandbox, world: World) -> None:
    """While a job runs, status exits 11 (running) and names the job, its place and seconds;
    ``status --wait`` returns 0 once the boot has reached its ending."""
    sandbox.write_workflow(
        {
            "blocks": job(
                world.job_image,
                "touch /iguana/blocking\nwhile [ ! -e /iguana/release ]; do sleep 0.1; done\n"
                + NEW_ROOT,
            )
        }
    )
    children: list[subprocess.Popen[Any]] = []
    try:
        with (sandbox.top / "run.log").open("wb") as log:
            process = subprocess.Popen(
                sandbox.command("run", "--workflow", str(sandbox.workflow), "--batch"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        children.append(process)
        wait_for(sandbox.paths.iguana / "blocking", process)
        code, document = sandbox.status()
        assert code == 11
        assert document["running"] is True
        assert document["jobs"]["blocks"]["status"] == "running"
        # cloud-init's words, and the running job as "job N of M" with its seconds
        assert (document["status"], document["errors"]) == ("running", [])
        running = document["running_job"]
        assert (running["id"], running["n"], running["of"]) == ("blocks", 1, 1)
        assert running["elapsed"] >= 0
        text = subprocess.run(
            sandbox.command("status"), capture_output=True, text=True, check=False
        ).stdout
        assert "running:  blocks (job 1 of 1) for " in text, text
        waiter = subprocess.Popen(
            sandbox.command("status", "--wait", "--timeout", "60"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        children.append(waiter)
        time.sleep(0.5)
        assert waiter.poll() is None, "status --wait returned while the job still ran"
        (sandbox.paths.iguana / "release").touch()
        out, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, out + err
        assert "switch_root (finished)" in out
        assert process.wait(60) == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


# ---- resume after SIGKILL ------------------------------------------------------------------


def wait_for(path: Path, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until ``path`` exists; fails when ``process`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"iguana ended early with {process.returncode}"
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout}s"
        time.sleep(0.05)


@dataclass(frozen=True)
class Resumed:
    """A boot killed during its second job, then resumed: what status said in between and
    after, and the processes that still mention the sandbox at the end."""

    box: Sandbox
    interrupted_code: int
    interrupted: dict[str, Any]
    resume: subprocess.CompletedProcess[str]
    code: int
    document: dict[str, Any]
    left: list[int]


@pytest.fixture(scope="module")
def resumed(world: World) -> Iterator[Resumed]:
    """Three jobs; ``iguana run`` gets SIGKILL while the second blocks (it waits for a file),
    then ``iguana resume`` runs with the file present. Every job counts its runs in /iguana."""
    box = Sandbox(Path(tempfile.mkdtemp(prefix="igb-", dir="/tmp")), world)
    try:
        box.write_workflow(
            {
                "one": job(world.job_image, "echo run >>/iguana/count-one"),
                "two": job(
                    world.job_image,
                    "echo run >>/iguana/count-two\ntouch /iguana/two-started\n"
                    "while [ ! -e /iguana/release ]; do sleep 0.1; done",
                ),
                "three": job(world.job_image, "echo run >>/iguana/count-three\n" + NEW_ROOT),
            }
        )
        with (box.top / "run.log").open("wb") as log:
            process = subprocess.Popen(
                box.command("run", "--workflow", str(box.workflow), "--batch"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
            try:
                wait_for(box.paths.iguana / "two-started", process)
                process.send_signal(signal.SIGKILL)
                assert process.wait(10) == -signal.SIGKILL
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        interrupted_code, interrupted = box.status()
        (box.paths.iguana / "release").touch()
        resume = subprocess.run(
            box.command("resume", "--batch"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        code, document = box.status()
        left = processes_mentioning(str(box.top))
        yield Resumed(box, interrupted_code, interrupted, resume, code, document, left)
    finally:
        box.close()


class TestResumeAfterSigkill:
    """``iguana run`` killed with SIGKILL in the middle of the second of three jobs."""

    def test_status_says_interrupted(self, resumed: Resumed) -> None:
        """After the kill, status exits 12 and shows the second job still running."""
        assert resumed.interrupted_code == ExitCode.INTERRUPTED
        assert resumed.interrupted["state"] in ("services", "jobs")
        assert resumed.interrupted["jobs"]["one"]["status"] == "succeeded"
        assert resumed.interrupted["jobs"]["two"]["status"] == "running"

    def test_resume_completes_the_boot(self, resumed: Resumed) -> None:
        """``iguana resume`` reaches the ending; status exits 0 with every job succeeded."""
        assert resumed.resume.returncode == 0, resumed.resume.stderr[-3000:]
        assert resumed.code == 0
        assert resumed.document["state"] == "switch_root"
        statuses = [resumed.document["jobs"][name]["status"] for name in ("one", "two", "three")]
        assert statuses == ["succeeded"] * 3

    def test_jobs_run_once_the_interrupted_one_twice_at_most(self, resumed: Resumed) -> None:
        """The first job ran exactly once, the second at most twice, the third once."""
        assert resumed.box.read("count-one") == "run\n"
        assert 1 <= len(resumed.box.read("count-two").splitlines()) <= 2
        assert resumed.box.read("count-three") == "run\n"
        assert resumed.document["jobs"]["one"]["attempts"] == 1

    def test_no_container_left(self, resumed: Resumed) -> None:
        """The killed run's job container was removed by the resume; none is left."""
        assert resumed.box.labelled(run_id_of(resumed.document)) == []
        assert resumed.box.podman.run("ps", "--all", "--quiet").stdout.split() == []

    def test_no_podman_service_left(self, resumed: Resumed) -> None:
        """After the resumed boot ended, no podman process of the sandbox is still running."""
        assert resumed.left == []


def test_sigterm_during_a_job_cleans_up_and_resumes(sandbox: Sandbox, world: World) -> None:
    """SIGTERM to ``iguana run`` during a job removes the job's container and stops the podman
    service before it exits; status says interrupted (12) and resume completes the boot."""
    sandbox.write_workflow(
        {
            "blocks": job(
                world.job_image,
                "echo run >>/iguana/count\ntrap 'exit 143' TERM\ntouch /iguana/blocking\n"
                "while [ ! -e /iguana/release ]; do sleep 0.1; done\n" + NEW_ROOT,
            )
        }
    )
    with (sandbox.top / "run.log").open("wb") as log:
        process = subprocess.Popen(
            sandbox.command("run", "--workflow", str(sandbox.workflow), "--batch"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        wait_for(sandbox.paths.iguana / "blocking", process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert processes_mentioning(str(sandbox.top)) == []
    assert sandbox.podman.run("ps", "--all", "--quiet").stdout.split() == []
    code, _ = sandbox.status()
    assert code == ExitCode.INTERRUPTED
    (sandbox.paths.iguana / "release").touch()
    resumed = subprocess.run(
        sandbox.command("resume", "--batch"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sandbox.status()[0] == 0
    assert sandbox.read("count") == "run\nrun\n"


# ---- an interactive job on a pseudo-terminal ------------------------------------------------


def converse(command: list[str], ready: Path, prompt: bytes, answer: bytes) -> tuple[int, str]:
    """Run ``command`` with a new pseudo-terminal as its console; once ``ready`` exists and
    ``prompt`` was shown, type ``answer``. Returns the exit code and everything shown."""
    pid, master = pty.fork()
    if pid == 0:  # the child: iguana with the pseudo-terminal as stdin, stdout and stderr
        try:
            os.execv(command[0], command)
        finally:
            os._exit(127)
    shown = bytearray()
    typed = False
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if not typed and prompt in shown and ready.exists():
                os.write(master, answer)
                typed = True
            readable, _, _ = select.select([master], [], [], 0.1)
            if not readable:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every process on the terminal has gone
                break
            if not chunk:
                break
            shown += chunk
        else:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(master)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_interactive_job_reads_a_typed_line(sandbox: Sandbox, world: World) -> None:
    """Under a pseudo-terminal, a line typed on the console reaches the job's stdin."""
    sandbox.write_workflow(
        {
            "ask": job(
                world.job_image,
                "printf 'your name? '\ntouch /iguana/asking\nread -r answer\n"
                'echo "$answer" >/iguana/answer\n' + NEW_ROOT,
            )
        }
    )
    code, shown = converse(
        sandbox.command("run", "--workflow", str(sandbox.workflow)),
        sandbox.paths.iguana / "asking",
        b"your name?",
        # Enter on a terminal sends a carriage return; the job's terminal makes it a newline
        b"Iguana Tester\r",
    )
    assert code == 0, shown[-3000:]
    assert sandbox.read("answer") == "Iguana Tester\n"
    assert "your name?" in shown
    logged = [json.loads(line) for line in sandbox.paths.log.read_text().splitlines()]
    lines = [event["line"] for event in logged if event.get("event") == "job.output"]
    assert any("your name?" in line for line in lines), lines


# ---- hostile files: what a container leaves in /iguana, and a workflow URL naming a host file --


def shadow_secrets() -> list[str]:
    """Every line of the host's /etc/shadow and each of its password fields longer than a
    placeholder: none of them may reach an output."""
    lines = [line for line in Path("/etc/shadow").read_text().splitlines() if line]
    assert lines, "/etc/shadow is empty: the check would prove nothing"
    fields = [line.split(":")[1] for line in lines if len(line.split(":")[1]) > 2]
    return lines + fields


class TestHostileFiles:
    """Files a real container leaves at the contract's names are refused in one line with exit
    7, without hanging and without quoting what they point at."""

    @pytest.mark.parametrize(
        ("script", "name", "what"),
        [
            ("mkfifo /iguana/mountlist", "mountlist", "is a FIFO, not a regular file"),
            (
                "rm -f /iguana/machine-id && mkfifo /iguana/machine-id && " + NEW_ROOT,
                "machine-id",
                "is a FIFO, not a regular file",
            ),
            (
                "ln -s /etc/shadow /iguana/kernelAction && " + NEW_ROOT,
                "kernelAction",
                "a symbolic link that leads out of",
            ),
        ],
        ids=["mountlist-fifo", "machine-id-fifo", "kernelAction-to-etc-shadow"],
    )
    def test_a_hostile_contract_file_is_refused(
        self, sandbox: Sandbox, world: World, script: str, name: str, what: str
    ) -> None:
        """The boot fails in the mount stage with exit 7 and one line naming the file; no line
        of the host's /etc/shadow reaches the console, the log or the checkpoint."""
        sandbox.write_workflow({"leave": job(world.job_image, script)})
        result = sandbox.run(timeout=180)
        assert result.returncode == ExitCode.MOUNT, result.stderr[-3000:]
        path = sandbox.paths.iguana / name
        # the console's banner wraps a long reason to 80 columns
        assert f"{path}: {what}" in " ".join(result.stderr.split())
        _, document = sandbox.status()
        assert document["failed_state"] == "mount"
        outputs = result.stdout + result.stderr + sandbox.read("log.jsonl") + sandbox.read("state")
        assert not [secret for secret in shadow_secrets() if secret in outputs]

    def test_a_workflow_url_naming_etc_shadow_quotes_none_of_it(self, sandbox: Sandbox) -> None:
        """``rd.iguana.control_url=file:///etc/shadow`` is an invalid workflow (exit 2) whose
        problems place the lines by number without quoting them."""
        result = subprocess.run(
            sandbox.command(
                "run", "--cmdline", "rd.iguana.control_url=file:///etc/shadow", "--batch"
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == ExitCode.USAGE, result.stderr[-3000:]
        assert "/etc/shadow:1:1: " in result.stderr
        outputs = result.stdout + result.stderr + sandbox.read("log.jsonl") + sandbox.read("state")
        assert not [secret for secret in shadow_secrets() if secret in outputs]


# ---- service readiness rules ---------------------------------------------------------------

SLOW_SERVICE = """\
trap 'exit 0' TERM
sleep 2
mkdir -p /www && echo pong >/www/ping && touch /tmp/up
echo up >"/iguana/$NAME-up"
httpd -f -p "127.0.0.1:$PORT" -h /www &
wait
"""
"""A service that needs two seconds before it serves: a job that starts earlier races it."""


def test_readiness_rules_hold_the_job_until_each_service_is_ready(
    sandbox: Sandbox, world: World
) -> None:
    """Three services that take 2 s to come up, one held by each rule (a file under /iguana,
    a TCP port, a command in the service): the job finds all three up at its first look, and
    none of them is logged as unchecked."""
    ports = {name: str(free_port()) for name in ("byfile", "byport", "bycommand")}
    rules = {
        "byfile": {"file": "/iguana/byfile-up", "timeout-seconds": 60},
        "byport": {"port": int(ports["byport"]), "timeout-seconds": 60},
        "bycommand": {"command": "test -e /tmp/up", "timeout-seconds": 60},
    }
    services = {}
    for name, rule in rules.items():
        container = job(world.other_image, SLOW_SERVICE, env={"NAME": name, "PORT": ports[name]})
        services[name] = {**container["container"], "ready": rule, "stop-grace-seconds": 2}
    check = "".join(
        f'test -e /iguana/{name}-up\nwget -q -O - "http://127.0.0.1:{port}/ping"\n'
        for name, port in ports.items()
    )
    sandbox.write_workflow(
        {"uses": {"services": services, **job(world.job_image, check + NEW_ROOT)}}
    )
    result = sandbox.run(timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in sandbox.read("log.jsonl").splitlines()]
    ready = {
        e["service"].rsplit("-", 1)[-1]: e["health"]
        for e in events
        if e["event"] == "service.ready"
    }
    assert ready == {
        "byfile": f"file {sandbox.paths.iguana}/byfile-up",
        "byport": f"port {ports['byport']}",
        "bycommand": "command test -e /tmp/up",
    }
    assert not [e for e in events if e["event"] == "service.unchecked"]
