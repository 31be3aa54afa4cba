"""The podman command line bound to a private storage and configuration, for tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from iguana_fsm.engine.api import runroot_for, usable_runroot
from iguana_fsm.paths import Paths

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
"""What podman needs on these machines: runc (crun fails) and ulimits below the hard limit."""


def podman_env(directory: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: os.environ) plus CONTAINERS_CONF pointing at a containers.conf written
    into ``directory`` (runc, lower ulimits, file logs: works without systemd)."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = dict(os.environ if base is None else base)
    env["CONTAINERS_CONF"] = str(conf)
    return env


@dataclass(frozen=True)
class PodmanCli:
    """``podman --root ROOT --runroot RUNROOT ...`` with ``env``: a storage no other test sees.
    A runroot longer than podman accepts (50 characters) is replaced by a short one in /tmp,
    the same the engine would use; ``remove_runroot`` removes it."""

    root: Path
    runroot: Path
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def for_paths(cls, paths: Paths, env: Mapping[str, str]) -> PodmanCli:
        """The CLI on the same storage as the PodmanEngine/PodmanApiProcess of ``paths``."""
        runroot = runroot_for(paths)
        assert paths.storage is not None, "tests use a private storage (Paths.for_sandbox)"
        assert runroot is not None
        return cls(paths.storage, runroot, env)

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run podman; on failure (check=True) raise AssertionError carrying its stderr."""
        runroot = usable_runroot(self.runroot)
        command = ["podman", "--root", str(self.root), "--runroot", str(runroot), *args]
        result = subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            env=dict(self.env),
            timeout=300,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed: {result.stderr.strip()}")
        return result

    def remove_runroot(self) -> None:
        """Remove a runroot that had to live in /tmp (see ``usable_runroot``); call it last."""
        runroot = usable_runroot(self.runroot)
        if runroot.parent == Path("/tmp"):
            shutil.rmtree(runroot, ignore_errors=True)

    def exists(self, kind: str, name: str) -> bool:
        """True when ``podman KIND exists NAME`` (kind: image, container, volume)."""
        return self.run(kind, "exists", name, check=False).returncode == 0

    def labelled(self, label: str) -> list[str]:
        """Names of the containers (any state) carrying ``label`` (``key=value``)."""
        out = self.run("ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}")
        return out.stdout.split()
