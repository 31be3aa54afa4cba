"""dracut/95iguana-images's images-setup on this machine, with a real docker-registry: ``start``
configures the device's registry mirror without starting it, ``serve`` starts it and returns
once it answers, ``stop`` ends it (run outside an initrd: its run directory, registries.conf
drop-in, storage.conf and port moved into a temp dir by the environment)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.registry import free_port

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "dracut/95iguana-images/iguana-images.sh"


@dataclass(frozen=True)
class Setup:
    """The script's places for one test and how to run it."""

    device: Path
    run: Path
    mirrors: Path
    port: int
    env: dict[str, str]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        """images-setup with ``args``; its exit code is the caller's to check."""
        return subprocess.run(
            ["sh", str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=60
        )

    def answers(self) -> bool:
        """The registry API answers on the port."""
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/v2/", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    """A device with a registry store for one host, and the places the script writes."""
    device = tmp_path / "device"
    (device / "registry/docker/registry/v2/repositories/registry.example.test").mkdir(parents=True)
    storage = tmp_path / "storage.conf"
    storage.write_text('[storage]\ndriver = "overlay"\n')
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "IGUANA_RUN_DIR": str(tmp_path / "run"),
        "IGUANA_MIRRORS_CONF": str(tmp_path / "registries.conf.d/90-iguana-images.conf"),
        "IGUANA_STORAGE_CONF": str(storage),
        "IGUANA_IMAGES_PORT": str(port),
    }
    it = Setup(device, tmp_path / "run", Path(env["IGUANA_MIRRORS_CONF"]), port, env)
    yield it
    it("stop")


def test_start_configures_the_mirror_without_starting_it(setup: Setup) -> None:
    """``start`` writes the registry's configuration and a drop-in that sends the store's
    registry through 127.0.0.1:PORT, and nothing listens there yet."""
    result = setup("start", str(setup.device))
    assert result.returncode == 0, result.stderr
    assert (setup.run / "images-registry.yml").exists()
    drop_in = setup.mirrors.read_text()
    assert 'prefix = "registry.example.test"' in drop_in
    assert f'location = "127.0.0.1:{setup.port}/registry.example.test"' in drop_in
    assert not setup.answers()


def test_serve_returns_once_the_registry_answers(setup: Setup) -> None:
    """``serve`` after ``start`` returns with the registry answering, a second ``serve``
    leaves the running one alone, and ``stop`` ends it and removes the drop-in."""
    assert setup("start", str(setup.device)).returncode == 0
    result = setup("serve")
    assert result.returncode == 0, result.stderr
    assert setup.answers()
    pid = (setup.run / "images-registry.pid").read_text()
    assert setup("serve").returncode == 0
    assert (setup.run / "images-registry.pid").read_text() == pid
    assert setup("stop").returncode == 0
    assert not setup.mirrors.exists()
    assert not Path(f"/proc/{pid.strip()}").exists() or not setup.answers()


def test_serve_without_a_registry_store_does_nothing(setup: Setup) -> None:
    """A device without a registry store has no mirror to serve: ``serve`` succeeds and
    nothing listens."""
    (setup.device / "registry").rename(setup.device / "elsewhere")
    assert setup("start", str(setup.device)).returncode == 0
    assert setup("serve").returncode == 0
    assert not setup.answers()
    assert not setup.mirrors.exists()


def test_a_registry_that_exits_fails_serve(setup: Setup) -> None:
    """``serve`` fails, naming the registry's log, when the registry exits instead of
    listening (here: a configuration it refuses)."""
    assert setup("start", str(setup.device)).returncode == 0
    (setup.run / "images-registry.yml").write_text("version: 0.1\nstorage: [not, a, mapping]\n")
    result = setup("serve")
    assert result.returncode == 1
    assert "did not start" in result.stderr and "images-registry.log" in result.stderr
    assert not setup.answers()
