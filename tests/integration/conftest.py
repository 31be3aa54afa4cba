"""Fixtures for tests against real podman and a real registry (see tests/support for the parts).

Everything is session-scoped and built once: the busybox rootfs, the images (cached by name),
the registry and one started PodmanEngine with a private storage under pytest's tmp dir.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from iguana_fsm.engine.api import runroot_for
from iguana_fsm.engine.podman import PodmanEngine
from iguana_fsm.paths import Paths
from tests.support.images import build_image, busybox_rootfs_tar
from tests.support.podman_cli import PodmanCli, podman_env
from tests.support.registry import Registry, insecure_registries_conf

ImageFactory = Callable[..., str]
"""``build(name, script, healthcheck=None) -> name``: a cached busybox image in a storage."""


@pytest.fixture(scope="session")
def podman_environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """os.environ with CONTAINERS_CONF (runc, lower ulimits) written into a temp dir."""
    return podman_env(tmp_path_factory.mktemp("podman-conf"))


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A busybox-static rootfs tarball (about 2 MB) that every test image is built from."""
    return busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A plain-http docker-registry on 127.0.0.1:<free port> for the whole session."""
    with Registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="session")
def registries_conf(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Path:
    """A registries.conf that lets podman pull from the plain-http ``registry``."""
    return insecure_registries_conf(
        tmp_path_factory.mktemp("registries") / "registries.conf", registry.host
    )


@pytest.fixture(scope="session")
def engine_paths(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """Sandbox Paths (private podman storage and socket) for the session's engine."""
    return Paths.for_sandbox(tmp_path_factory.mktemp("engine"))


@pytest.fixture(scope="session")
def engine(engine_paths: Paths, registries_conf: Path) -> Iterator[PodmanEngine]:
    """A started PodmanEngine on its own podman service and storage; stopped at session end."""
    started = PodmanEngine(
        engine_paths,
        f"it-{uuid.uuid4().hex[:8]}",
        env_overlay={"CONTAINERS_REGISTRIES_CONF": str(registries_conf)},
        stop_grace=2.0,
    )
    started.start()
    try:
        yield started
    finally:
        started.stop()
        runroot = runroot_for(engine_paths)
        if runroot is not None and runroot.parent == Path("/tmp"):
            shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture(scope="session")
def engine_podman(
    engine_paths: Paths, podman_environment: dict[str, str], registries_conf: Path
) -> PodmanCli:
    """The podman CLI on the engine's storage: to build, push and inspect behind its back."""
    env = {**podman_environment, "CONTAINERS_REGISTRIES_CONF": str(registries_conf)}
    return PodmanCli.for_paths(engine_paths, env)


@pytest.fixture(scope="session")
def engine_image(engine_podman: PodmanCli, busybox_rootfs: Path) -> ImageFactory:
    """Build busybox images into the engine's storage, each (name, script, check) only once."""
    built: dict[tuple[str, str, str | None], str] = {}

    def build(name: str, script: str, healthcheck: str | None = None) -> str:
        key = (name, script, healthcheck)
        if key not in built:
            built[key] = build_image(
                engine_podman, name, script, busybox_rootfs, healthcheck=healthcheck
            )
        return built[key]

    return build
