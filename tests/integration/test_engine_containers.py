"""PodmanEngine against real podman: what an installation container sees and how it ends."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.contract import container_spec, run_labels
from iguana_fsm.engine import ending
from iguana_fsm.engine.base import RUN_LABEL, ContainerSpec, JobResult
from iguana_fsm.engine.podman import PodmanEngine
from iguana_fsm.errors import EngineError
from iguana_fsm.paths import Paths
from iguana_fsm.workflow.model import Readiness, Volume
from tests.integration.conftest import ImageFactory
from tests.support.images import build_image
from tests.support.podman_cli import PodmanCli
from tests.support.registry import free_port

pytestmark = pytest.mark.integration

READY = "test -e /tmp/ready"


def serving(script: str) -> str:
    """A service script that then idles and ends at once on SIGTERM (PID 1 ignores it else)."""
    return f"trap 'exit 0' TERM; {script}; sleep 600 & wait"


def spec(
    engine: PodmanEngine,
    image: str,
    iguana: Path,
    env: Mapping[str, str] | None = None,
    volumes: tuple[Volume, ...] = (),
) -> ContainerSpec:
    """A spec with a unique name inside the contract, as the stages build it."""
    return container_spec(
        f"t-{uuid.uuid4().hex[:10]}",
        image,
        env or {},
        volumes,
        iguana_dir=iguana,
        run_id=engine.run_id,
    )


@pytest.fixture(autouse=True)
def nothing_left(engine: PodmanEngine, engine_podman: PodmanCli) -> Iterator[None]:
    """Every test must leave no container of the engine's run behind, once the removals of
    its ended jobs are done."""
    yield
    engine.finish_removals()
    left = engine_podman.labelled(f"{RUN_LABEL}={engine.run_id}")
    engine.remove_leftovers(engine.run_id)
    assert left == [], f"containers left behind: {left}"


class Recorder:
    """A logger that keeps each event and its fields."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        def keep(event: str, **fields: Any) -> None:
            self.events.append((event, fields))

        return keep


def collect(
    engine: PodmanEngine, job: ContainerSpec, timeout: float | None = 60
) -> tuple[JobResult, list[str]]:
    lines: list[str] = []
    result = engine.run_job(job, timeout=timeout, interactive=False, output=lines.append)
    return result, lines


class TestJobEnvironment:
    def test_env_and_iguana_flag_are_visible_inside(
        self, engine: PodmanEngine, engine_image: ImageFactory, tmp_path: Path
    ) -> None:
        """A job sees IGUANA=true and the merged env, and its output reaches the sink."""
        image = engine_image("localhost/it/env:1", "env > /iguana/env.txt; echo hello from job")
        result, lines = collect(engine, spec(engine, image, tmp_path, {"GREETING": "hi there"}))
        assert result.exit_code == 0
        seen = (tmp_path / "env.txt").read_text().splitlines()
        assert "IGUANA=true" in seen
        assert "GREETING=hi there" in seen
        assert lines == ["hello from job"]
        assert result.tail == ("hello from job",)

    def test_iguana_dir_is_shared_between_containers(
        self, engine: PodmanEngine, engine_image: ImageFactory, tmp_path: Path
    ) -> None:
        """What one container writes to /iguana the next one reads, and the host sees it."""
        writer = engine_image("localhost/it/writer:1", "echo $PAYLOAD > /iguana/note")
        reader = engine_image("localhost/it/reader:1", "cat /iguana/note")
        first, _ = collect(engine, spec(engine, writer, tmp_path, {"PAYLOAD": "passed-along"}))
        second, lines = collect(engine, spec(engine, reader, tmp_path))
        assert (first.exit_code, second.exit_code) == (0, 0)
        assert lines == ["passed-along"]
        assert (tmp_path / "note").read_text() == "passed-along\n"

    def test_container_is_privileged_with_host_dev(
        self, engine: PodmanEngine, engine_image: ImageFactory, tmp_path: Path
    ) -> None:
        """A job sees the host's /dev (loop-control exists) and has every capability we have."""
        image = engine_image(
            "localhost/it/caps:1", "ls /dev/loop-control; grep CapEff /proc/self/status"
        )
        result, lines = collect(engine, spec(engine, image, tmp_path))
        assert result.exit_code == 0
        assert lines[0] == "/dev/loop-control"
        ours = next(
            line
            for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("CapEff")
        )
        assert lines[1].split() == ours.split()


class TestJobEnd:
    def test_failing_job_reports_its_exit_code_and_tail(
        self, engine: PodmanEngine, engine_image: ImageFactory, tmp_path: Path
    ) -> None:
        """A job's own exit code comes back with its last lines, and the container is gone."""
        image = engine_image(
            "localhost/it/fail:1", "for i in $(seq 1 30); do echo line $i; done; exit 7"
        )
        result, lines = collect(engine, spec(engine, image, tmp_path))
        assert result.exit_code == 7
        assert not result.timed_out
        assert len(lines) == 30
        assert result.tail == tuple(f"line {i}" for i in range(11, 31))

    def test_jobs_in_a_row_end_with_their_codes_and_leave_nothing(
        self, tmp_path: Path, podman_environment: dict[str, str], busybox_rootfs: Path
    ) -> None:
        """Jobs run one after another each end with their own exit code (taken once podman
        records the end, before its clean-up process is done); their image can be removed
        right after the last one, and once the engine stops neither a container of theirs
        nor a process naming one (conmon, the clean-up) is left."""
        paths = Paths.for_sandbox(tmp_path / "sandbox")
        podman = PodmanCli.for_paths(paths, podman_environment)
        made = Recorder()
        engine = PodmanEngine(paths, "in-a-row", log=made, stop_grace=2.0)
        try:
            image = build_image(podman, "localhost/it/codes:1", "exit $CODE", busybox_rootfs)
            engine.start()
            codes = [
                collect(engine, spec(engine, image, tmp_path, {"CODE": str(code)}))[0].exit_code
                for code in (0, 5, 0, 9)
            ]
            engine.remove_image(image)
        finally:
            engine.stop()
            podman.remove_runroot()
        assert codes == [0, 5, 0, 9]
        ids = {fields["id"] for event, fields in made.events if event == "container.created"}
        assert len(ids) == 4
        assert ending.naming(ids) == set()
        assert podman.run("ps", "--all", "--quiet").stdout.split() == []
        assert podman.run("images", "--quiet").stdout.split() == []

    def test_timeout_stops_a_sleeping_job(
        self, engine: PodmanEngine, engine_image: ImageFactory, tmp_path: Path
    ) -> None:
        """A job past its timeout is stopped (SIGTERM, then SIGKILL) and marked timed out."""
        image = engine_image("localhost/it/sleeper:1", "echo started; sleep 120")
        began = time.monotonic()
        result, lines = collect(engine, spec(engine, image, tmp_path), timeout=1.5)
        elapsed = time.monotonic() - began
        assert result.timed_out
        assert result.exit_code != 0
        assert lines == ["started"]
        assert 1.5 <= elapsed < 1.5 + engine.stop_grace + 5

    def test_job_of_a_missing_image_is_an_engine_error(
        self, engine: PodmanEngine, tmp_path: Path
    ) -> None:
        """A job whose image is not in storage fails with an EngineError naming the image."""
        with pytest.raises(EngineError, match="localhost/it/not-there:1"):
            collect(engine, spec(engine, "localhost/it/not-there:1", tmp_path))


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class TestServices:
    def test_service_is_reachable_over_host_network_and_removed(
        self,
        engine: PodmanEngine,
        engine_image: ImageFactory,
        engine_podman: PodmanCli,
        tmp_path: Path,
    ) -> None:
        """A job reaches its service on 127.0.0.1; after stop_container it is gone by id."""
        port = free_port()
        server = engine_image(
            "localhost/it/httpd:1",
            serving("mkdir -p /www && echo pong > /www/ping && httpd -p 127.0.0.1:$PORT -h /www"),
            healthcheck="wget -q -O /dev/null http://127.0.0.1:$PORT/ping",
        )
        client = engine_image("localhost/it/client:1", "wget -q -O - http://127.0.0.1:$PORT/ping")
        service_id = engine.start_service(spec(engine, server, tmp_path, {"PORT": str(port)}), 30)
        assert _listening(port)
        result, lines = collect(engine, spec(engine, client, tmp_path, {"PORT": str(port)}))
        assert (result.exit_code, lines) == (0, ["pong"])
        engine.stop_container(service_id)
        assert not engine_podman.exists("container", service_id)
        assert not _listening(port)
        engine.stop_container(service_id)

    def test_start_service_waits_for_health(
        self, engine: PodmanEngine, engine_image: ImageFactory, tmp_path: Path
    ) -> None:
        """start_service returns only once the image's health check passes."""
        image = engine_image("localhost/it/slow:1", serving("sleep 2; touch /tmp/ready"), READY)
        began = time.monotonic()
        service_id = engine.start_service(spec(engine, image, tmp_path), 30)
        elapsed = time.monotonic() - began
        try:
            health = engine.client.containers.get(service_id).attrs["State"]["Health"]["Status"]
            assert health == "healthy"
            assert elapsed >= 2
        finally:
            engine.stop_container(service_id)

    def test_unhealthy_service_fails_and_is_removed(
        self, engine: PodmanEngine, engine_image: ImageFactory, tmp_path: Path
    ) -> None:
        """A service whose health check never passes is an EngineError after ready_timeout."""
        image = engine_image("localhost/it/sick:1", serving("true"), READY)
        began = time.monotonic()
        with pytest.raises(EngineError, match=r"not ready after 2s: health check unhealthy"):
            engine.start_service(spec(engine, image, tmp_path), 2)
        assert time.monotonic() - began < 2 + engine.stop_grace + 5

    def test_a_rule_never_met_fails_with_the_rule_and_wins_over_the_health_check(
        self, engine: PodmanEngine, engine_image: ImageFactory, tmp_path: Path
    ) -> None:
        """A service whose ready rule (a port nobody opens) never holds is an EngineError
        naming the rule, although its image's health check passes; nothing is left."""
        image = engine_image("localhost/it/slow:1", serving("sleep 2; touch /tmp/ready"), READY)
        port = free_port()
        with pytest.raises(EngineError, match=rf"not ready after 3s: port {port} not met"):
            engine.start_service(spec(engine, image, tmp_path), 3, Readiness(port=port))
        assert engine.client.containers.list(all=True, filters={"ancestor": image}) == []

    def test_service_that_exits_early_reports_code_and_output(
        self, engine: PodmanEngine, engine_image: ImageFactory, tmp_path: Path
    ) -> None:
        """A service that dies while starting is an EngineError with its exit code and words."""
        image = engine_image("localhost/it/crash:1", "echo cannot bind port; exit 3")
        with pytest.raises(EngineError, match=r"exited with code 3 .*cannot bind port"):
            engine.start_service(spec(engine, image, tmp_path), 10)

    def test_named_volume_is_shared_and_removed(
        self,
        engine: PodmanEngine,
        engine_image: ImageFactory,
        engine_podman: PodmanCli,
        tmp_path: Path,
    ) -> None:
        """A service and its job share a named volume (read-only for the job) that carries
        exactly the labels asked for; it is removed."""
        volume = f"vol-{uuid.uuid4().hex[:8]}"
        asked = {"iguana.job": "install", **run_labels(engine.run_id)}
        engine.create_volume(volume, asked)
        engine.create_volume(volume, asked)
        producer = engine_image(
            "localhost/it/producer:1",
            serving("echo made-by-service > /data/file; touch /tmp/ready"),
            READY,
        )
        consumer = engine_image(
            "localhost/it/consumer:1",
            "cat /data/file; touch /data/other 2>/dev/null && echo writable || echo read-only",
        )
        service_id = engine.start_service(
            spec(engine, producer, tmp_path, volumes=(Volume(volume, "/data"),)), 30
        )
        try:
            result, lines = collect(
                engine, spec(engine, consumer, tmp_path, volumes=(Volume(volume, "/data", True),))
            )
        finally:
            engine.stop_container(service_id)
        assert (result.exit_code, lines) == (0, ["made-by-service", "read-only"])
        labels = engine.client.volumes.get(volume).attrs["Labels"]
        assert labels == asked
        engine.remove_volume(volume)
        assert not engine_podman.exists("volume", volume)
        engine.remove_volume(volume)

    def test_bind_and_anonymous_volumes(
        self, engine: PodmanEngine, engine_image: ImageFactory, tmp_path: Path
    ) -> None:
        """A host path is bind-mounted (ro honoured) and an anonymous volume is writable."""
        host = tmp_path / "host"
        host.mkdir()
        (host / "in").write_text("from-host\n")
        image = engine_image(
            "localhost/it/mounts:1",
            "cat /host/in; touch /host/x 2>/dev/null || echo ro; "
            "echo scratch > /scratch/f && cat /scratch/f",
        )
        volumes = (Volume(str(host), "/host", True), Volume(None, "/scratch"))
        result, lines = collect(engine, spec(engine, image, tmp_path, volumes=volumes))
        assert (result.exit_code, lines) == (0, ["from-host", "ro", "scratch"])
        assert sorted(p.name for p in host.iterdir()) == ["in"]

    @pytest.mark.parametrize(
        ("volume", "refusal"),
        [
            (Volume("/dev", "/dev"), r"/dev\W+duplicate mount destination"),
            (Volume(None, "/iguana"), r"/iguana\W+duplicate mount destination"),
            (Volume("/tmp", "/iguana", True), r"/iguana\W+duplicate mount destination"),
            # A volume on / hides the image itself: runc finds nothing to run.
            (Volume(None, "/"), r"runc create failed"),
        ],
        ids=["bind-dev", "anonymous-iguana", "bind-iguana", "root"],
    )
    def test_volume_on_a_target_iguana_mounts_is_refused_by_podman(
        self,
        engine: PodmanEngine,
        engine_image: ImageFactory,
        tmp_path: Path,
        volume: Volume,
        refusal: str,
    ) -> None:
        """podman refuses a second mount on /dev or /iguana, which every container already
        has, and a volume on / cannot run: why the workflow validation refuses those targets."""
        image = engine_image("localhost/it/twice:1", "echo never runs")
        with pytest.raises(EngineError, match=refusal):
            collect(engine, spec(engine, image, tmp_path, volumes=(volume,)))


class TestLeftovers:
    def test_remove_leftovers_removes_only_this_runs_things(
        self,
        engine: PodmanEngine,
        engine_image: ImageFactory,
        engine_podman: PodmanCli,
        tmp_path: Path,
    ) -> None:
        """Containers and volumes of a run are found by label and removed; others stay."""
        image = engine_image("localhost/it/idle:1", serving("touch /tmp/ready"), READY)
        service = spec(engine, image, tmp_path)
        engine.start_service(service, 30)
        volume = f"left-{uuid.uuid4().hex[:8]}"
        engine.create_volume(volume, run_labels(engine.run_id))
        other = f"other-{uuid.uuid4().hex[:8]}"
        engine_podman.run("create", "--name", other, "--label", f"{RUN_LABEL}=another", image)
        try:
            removed = engine.remove_leftovers(engine.run_id)
            assert sorted(removed) == sorted([f"container:{service.name}", f"volume:{volume}"])
            assert not engine_podman.exists("container", service.name)
            assert not engine_podman.exists("volume", volume)
            assert engine_podman.exists("container", other)
            assert engine.remove_leftovers(engine.run_id) == []
        finally:
            engine_podman.run("rm", "-f", other)
