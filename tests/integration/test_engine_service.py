"""The private ``podman system service``: started on our socket, answered, stopped, explained."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from iguana_fsm.engine.podman import PodmanEngine
from iguana_fsm.engine.service import (
    PodmanService,
    mounts_below,
    packaged_containers_conf,
    runroot_for,
    service_environment,
)
from iguana_fsm.errors import EngineError
from iguana_fsm.paths import Paths

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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class TestPodmanService:
    def test_start_answers_and_stop_twice_leaves_nothing(
        self, service_paths: Paths, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The service answers on its socket in its own session; stop ends it (and unmounts what
        podman left mounted in the storage); a second stop is fine."""
        monkeypatch.delenv("CONTAINERS_CONF", raising=False)
        service = PodmanService(service_paths)
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
        assert mounts_below(service_paths.storage) == []

    def test_missing_podman_is_explained_in_one_line(self, service_paths: Paths) -> None:
        """Without podman on PATH the error says so and how to install it."""
        service = PodmanService(service_paths, env={"PATH": str(service_paths.run)})
        with pytest.raises(EngineError, match=r"^podman is not installed: .*apt-get install"):
            service.start()

    def test_service_that_cannot_start_reports_podmans_words(self, service_paths: Paths) -> None:
        """A service that dies at once is an EngineError quoting its log, and nothing runs."""
        assert service_paths.storage is not None
        service_paths.storage.parent.mkdir(parents=True)
        service_paths.storage.write_text("not a directory\n")
        service = PodmanService(service_paths, ready_timeout=20)
        with pytest.raises(EngineError, match=r"podman system service exited with code \d+: .*"):
            service.start()
        assert not service.running

    def test_long_sandbox_paths_still_work(self, tmp_path: Path) -> None:
        """A sandbox deep enough for podman's 50-character runroot limit still gets an engine."""
        paths = Paths.for_sandbox(tmp_path / ("deep-" * 14))
        engine = PodmanEngine(paths, "long", stop_grace=1)
        try:
            engine.start()
            assert engine.client.version()["Version"]
        finally:
            engine.stop()
            runroot = runroot_for(paths)
            assert runroot is not None and len(str(runroot)) <= 50
            shutil.rmtree(runroot, ignore_errors=True)

    def test_callers_containers_conf_wins(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """CONTAINERS_CONF from the caller is kept; otherwise the packaged one is used."""
        monkeypatch.delenv("CONTAINERS_CONF", raising=False)
        packaged = str(packaged_containers_conf())
        assert service_environment()["CONTAINERS_CONF"] == packaged
        mine = str(tmp_path / "mine.conf")
        assert service_environment({"CONTAINERS_CONF": mine})["CONTAINERS_CONF"] == mine
        assert service_environment({"HOME": str(tmp_path)})["HOME"] == str(tmp_path)
        text = packaged_containers_conf().read_text()
        assert 'runtime = "runc"' in text
        assert '"nofile=1024:1024"' in text
