"""The private ``podman system service``: started on our socket, answered, stopped, explained."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iguana_fsm.contract import container_spec
from iguana_fsm.engine.api import (
    LaterLog,
    PodmanApiProcess,
    api_environment,
    packaged_containers_conf,
    runroot_for,
    socket_for,
    stand_ins,
    unmount_below,
)
from iguana_fsm.engine.podman import PodmanEngine
from iguana_fsm.engine.storageconf import graphroot_of
from iguana_fsm.errors import EngineError
from iguana_fsm.mounts import mounted_under
from iguana_fsm.paths import Paths
from tests.support.images import build_image
from tests.support.podman_cli import PodmanCli

pytestmark = pytest.mark.integration


@pytest.fixture
def service_paths(tmp_path: Path) -> Iterator[Paths]:
    """Sandbox Paths for a service of the test's own; a runroot moved to /tmp is removed."""
    paths = Paths.for_sandbox(tmp_path / "sandbox")
    yield paths
    runroot = runroot_for(paths)
    if runroot is not None and runroot.parent == Path("/tmp"):
        shutil.rmtree(runroot, ignore_errors=True)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (nobody may reap it here) counts as ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class TestPodmanApiProcess:
    def test_start_answers_and_stop_twice_leaves_nothing(
        self, service_paths: Paths, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The service answers on its socket in its own session; stop ends it (and unmounts what
        podman left mounted in the storage); a second stop is fine."""
        monkeypatch.delenv("CONTAINERS_CONF", raising=False)
        service = PodmanApiProcess(service_paths)
        service.start()
        process = service._process
        assert process is not None
        try:
            assert service.running
            assert service.socket_path.is_socket()
            assert os.getsid(process.pid) == process.pid
            assert service.environment["CONTAINERS_CONF"] == str(packaged_containers_conf())
        finally:
            service.stop()
        service.stop()
        assert not service.running
        assert not _alive(process.pid)
        assert not service.socket_path.exists()
        assert service_paths.storage is not None
        assert mounted_under(service_paths.storage) == []

    def test_missing_podman_is_explained_in_one_line(self, service_paths: Paths) -> None:
        """Without podman on PATH the error says so and how to install it."""
        service = PodmanApiProcess(service_paths, env={"PATH": str(service_paths.run)})
        with pytest.raises(EngineError, match=r"^podman is not installed: .*apt-get install"):
            service.start()

    def test_service_that_cannot_start_reports_podmans_words(self, service_paths: Paths) -> None:
        """A service that dies at once is an EngineError quoting its log, and nothing runs."""
        assert service_paths.storage is not None
        service_paths.storage.parent.mkdir(parents=True)
        service_paths.storage.write_text("not a directory\n")
        service = PodmanApiProcess(service_paths, ready_timeout=20)
        with pytest.raises(EngineError, match=r"podman system service exited with code \d+: .*"):
            service.start()
        assert not service.running

    def test_long_sandbox_paths_still_work(self, tmp_path: Path) -> None:
        """A sandbox deep enough for podman's 50-character runroot limit still gets an engine,
        on private 0700 directories in /tmp that stop removes."""
        paths = Paths.for_sandbox(tmp_path / ("deep-" * 14))
        engine = PodmanEngine(paths, "long", stop_grace=1)
        made = stand_ins(paths)
        try:
            engine.start()
            assert engine.client.version()["Version"]
            assert len(made) == 2
            for directory in made:
                assert directory.stat().st_mode & 0o777 == 0o700
            runroot = runroot_for(paths)
            assert runroot is not None and len(str(runroot)) <= 50
            assert socket_for(paths).parent in made
        finally:
            engine.stop()
            for directory in made:
                shutil.rmtree(directory, ignore_errors=True)
        assert [directory for directory in made if directory.exists()] == []

    @pytest.mark.parametrize("kind", ["symlink", "open-mode", "file"])
    def test_stand_in_prepared_by_someone_else_is_refused(self, tmp_path: Path, kind: str) -> None:
        """A /tmp stand-in that exists as a symlink, a file or a directory others may use is
        refused before podman starts, and left as it was."""
        paths = Paths.for_sandbox(tmp_path / ("deep-" * 14))
        target = socket_for(paths).parent
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        if kind == "symlink":
            target.symlink_to(elsewhere)
        elif kind == "file":
            target.write_text("")
        else:
            target.mkdir()
            target.chmod(0o777)
        service = PodmanApiProcess(paths)
        try:
            with pytest.raises(EngineError, match=rf"^refusing {target}: "):
                service.start()
            assert not service.running
            assert target.is_symlink() if kind == "symlink" else target.exists()
            assert [path for path in stand_ins(paths) if path != target and path.exists()] == []
        finally:
            service.stop()
            if target.is_dir() and not target.is_symlink():
                target.rmdir()
            else:
                target.unlink()

    @pytest.mark.parametrize("named", [True, False], ids=["graphroot", "none-named"])
    def test_graphroot_from_storage_conf_is_podmans(self, tmp_path: Path, named: bool) -> None:
        """The storage directory read from the storage.conf that CONTAINERS_STORAGE_CONF names
        is the one podman reports using; a file that names none gives None (the engine then
        asks the service)."""
        graphroot, runroot = tmp_path / "graph", tmp_path / "run"
        conf = tmp_path / "storage.conf"
        lines = ["[storage]", 'driver = "overlay"', f'runroot = "{runroot}"']
        conf.write_text("\n".join([*lines, f'graphroot = "{graphroot}"' if named else ""]) + "\n")
        env = {**api_environment(), "CONTAINERS_STORAGE_CONF": str(conf)}
        if not named:
            assert graphroot_of(env) is None
            return
        try:
            told = subprocess.run(
                ["podman", "info", "--format", "{{.Store.GraphRoot}}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
        finally:
            unmount_below(tmp_path, LaterLog())
        assert graphroot_of(env) == Path(told.stdout.strip()) == graphroot

    def test_engine_on_podmans_own_storage_takes_its_graphroot_from_storage_conf(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An engine without a private storage (the initrd's) knows the storage's directory
        from storage.conf before its first pull, so it never asks the service's /info."""
        conf = tmp_path / "storage.conf"
        conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{tmp_path / "g"}"\n')
        monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(conf))
        paths = Paths.for_sandbox(tmp_path / "sandbox")._replace(storage=None)
        engine = PodmanEngine(paths, "graphroot")
        assert engine._totals.graphroot == tmp_path / "g"

    def test_callers_containers_conf_wins(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CONTAINERS_CONF from the caller is kept; otherwise the packaged one is used."""
        monkeypatch.delenv("CONTAINERS_CONF", raising=False)
        packaged = str(packaged_containers_conf())
        assert api_environment()["CONTAINERS_CONF"] == packaged
        mine = str(tmp_path / "mine.conf")
        assert api_environment({"CONTAINERS_CONF": mine})["CONTAINERS_CONF"] == mine
        assert api_environment({"HOME": str(tmp_path)})["HOME"] == str(tmp_path)
        text = packaged_containers_conf().read_text()
        assert 'runtime = "runc"' in text
        assert '"nofile=1024:1024"' in text

    def test_start_names_podmans_version_without_a_host_survey(self, tmp_path: Path) -> None:
        """The started engine knows podman's version (the one ``podman version`` reports) from
        the service's answer to its ping: podman runs no dpkg, rpm or ``runc --version`` for it,
        which its ``/version`` endpoint does to survey the host."""
        trace, version = tmp_path / "execs", tmp_path / "version"
        teller = [sys.executable, "-c", VERSION_TELLER, str(tmp_path / "sandbox"), str(version)]
        subprocess.run(
            [*STRACE_EXECS, str(trace), *teller],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        told = subprocess.run(
            ["podman", "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert version.read_text() == told.stdout.strip() != ""
        execs = [line for line in trace.read_text().splitlines() if "execve(" in line]
        assert any('system", "service' in line for line in execs), execs
        # podman's own start runs ``conmon --version``; the survey adds the package queries
        surveys = [line for line in execs if re.search(r'/(dpkg|rpm)"|/runc", "--version"', line)]
        assert surveys == []


ORPHAN_MAKER = """
import sys, time
from pathlib import Path
from iguana_fsm.engine.api import PodmanApiProcess
from iguana_fsm.paths import Paths
from tests.support.images import build_image
from tests.support.podman_cli import PodmanCli
PodmanApiProcess(Paths.for_sandbox(Path(sys.argv[1]))).start()
print("up", flush=True)
time.sleep(600)
"""

STRACE_EXECS = ["strace", "-f", "-qq", "-e", "trace=execve", "-o"]
"""strace with the processes a command starts, up to the trace file's name."""

VERSION_TELLER = """
import sys
from pathlib import Path
from iguana_fsm.engine.podman import PodmanEngine
from iguana_fsm.engine.storageconf import graphroot_of
from iguana_fsm.paths import Paths
engine = PodmanEngine(Paths.for_sandbox(Path(sys.argv[1])), "version")
engine.start()
try:
    Path(sys.argv[2]).write_text(engine.api.version)
finally:
    engine.stop()
"""


class TestLeftBehind:
    @pytest.mark.parametrize("pid_file", [True, False], ids=["pid-file", "killed-before-pid-file"])
    def test_service_orphaned_by_a_killed_iguana_is_ended_by_the_next(
        self, service_paths: Paths, tmp_path: Path, pid_file: bool
    ) -> None:
        """When Iguana was SIGKILLed, the next start ends the service it left running, also
        when the kill came before the pid file was written (found by its socket)."""
        top = service_paths.iguana.parent
        maker = subprocess.Popen(
            [sys.executable, "-c", ORPHAN_MAKER, str(top)],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert maker.stdout is not None
        assert maker.stdout.readline() == b"up\n"
        maker.kill()
        maker.wait()
        orphan = int((service_paths.run / "podman-service.pid").read_text())
        if not pid_file:
            (service_paths.run / "podman-service.pid").unlink()
        try:
            assert _alive(orphan)
            service = PodmanApiProcess(service_paths)
            service.start()
            try:
                assert not _alive(orphan)
                assert service.running
            finally:
                service.stop()
        finally:
            if _alive(orphan):
                os.killpg(orphan, signal.SIGKILL)
        assert service_paths.storage is not None
        assert mounted_under(service_paths.storage) == []

    def test_engine_stop_cleans_up_after_podman_died_on_its_own(self, tmp_path: Path) -> None:
        """When the service was killed behind Iguana's back, stopping the engine still removes
        its pid file, socket, /tmp stand-ins and storage mounts."""
        paths = Paths.for_sandbox(tmp_path / ("deep-" * 14))
        engine = PodmanEngine(paths, "died", stop_grace=1)
        made = stand_ins(paths)
        try:
            engine.start()
            process = engine.api._process
            assert process is not None
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            assert not engine.api.running
            engine.stop()
            assert not engine.api.pid_path.exists()
            assert not engine.api.socket_path.exists()
            assert [directory for directory in made if directory.exists()] == []
            assert paths.storage is not None
            assert mounted_under(paths.storage) == []
        finally:
            engine.stop()
            for directory in made:
                shutil.rmtree(directory, ignore_errors=True)

    def test_engine_stop_removes_the_containers_it_still_has(
        self,
        service_paths: Paths,
        podman_environment: dict[str, str],
        busybox_rootfs: Path,
    ) -> None:
        """Stopping the engine stops and removes a service container that is still running."""
        podman = PodmanCli.for_paths(service_paths, podman_environment)
        image = build_image(
            podman, "localhost/it/idle:1", "trap 'exit 0' TERM; sleep 600 & wait", busybox_rootfs
        )
        engine = PodmanEngine(service_paths, "stop-test", stop_grace=1)
        engine.start()
        try:
            service_paths.iguana.mkdir(parents=True, exist_ok=True)
            spec = container_spec(
                "left-running", image, {}, (), iguana_dir=service_paths.iguana, run_id="stop-test"
            )
            engine.start_service(spec, 30)
        finally:
            engine.stop()
        assert podman.run("ps", "-a", "--format", "{{.Names}}").stdout.split() == []
        assert mounted_under(service_paths.storage or service_paths.run) == []


class TestHeadStart:
    def test_a_boot_whose_service_cannot_be_spawned_fails_in_verify(self, tmp_path: Path) -> None:
        """When ``iguana run`` cannot spawn the podman service before its imports (podman is
        not on PATH), the boot still records its start and fails in verify with the reason,
        exit 5, as a failed start always did."""
        top = tmp_path / "box"
        workflow = tmp_path / "w.yaml"
        workflow.write_text("jobs:\n  a: {container: {image: registry.example/a:1}}\n")
        env = {**os.environ, "PATH": str(tmp_path / "nothing")}
        argv = [sys.executable, "-m", "iguana_fsm"]
        result = subprocess.run(
            [*argv, "run", "--sandbox", str(top), "--workflow", str(workflow), "--batch"],
            capture_output=True,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            check=False,
        )
        assert result.returncode == 5, result.stderr
        status = subprocess.run(
            [*argv, "status", "--json", "--sandbox", str(top)],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
            check=False,
        )
        record = json.loads(status.stdout)
        assert record["error"]["state"] == "verify"
        assert "podman is not installed" in record["error"]["message"]
        assert not (Paths.for_sandbox(top).run / "podman.sock").exists()
