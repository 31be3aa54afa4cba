"""The private ``podman system service`` that Iguana starts, talks to and stops.

Iguana never uses a system-wide podman socket: it starts its own service on a socket under
``Paths.run`` (and, in a sandbox, with storage under ``Paths.storage``), so a boot sees only the
containers it made and leaves nothing behind when it stops.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import IO

from iguana_fsm.errors import EngineError
from iguana_fsm.paths import Paths

INSTALL_HINT = "install it: apt-get install -y podman runc (or: zypper install podman runc)"


def packaged_containers_conf() -> Path:
    """The containers.conf shipped with Iguana (runc, lower ulimits, no systemd assumed)."""
    return Path(str(resources.files("iguana_fsm") / "data" / "containers.conf"))


def service_environment(overlay: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of podman processes: ours, then ``overlay`` (e.g. HOME for a private
    trust config), then the packaged containers.conf unless CONTAINERS_CONF is already set."""
    env = dict(os.environ)
    env.update(overlay or {})
    env.setdefault("CONTAINERS_CONF", str(packaged_containers_conf()))
    return env


class PodmanService:
    """``podman system service --time=0`` as a child process on a private unix socket.

    ``start`` waits (at most ``ready_timeout`` seconds) until the socket answers a ping;
    ``stop`` sends SIGTERM to the service's process group, then SIGKILL, and may be called twice.
    """

    def __init__(
        self,
        paths: Paths,
        *,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.paths = paths
        self.environment = service_environment(env)
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        """The unix socket the service listens on."""
        return self.paths.run / "podman.sock"

    @property
    def url(self) -> str:
        """The socket as a URL for podman-py and ``podman --url``."""
        return f"unix://{self.socket_path}"

    @property
    def log_path(self) -> Path:
        """Where the service's stderr goes."""
        return self.paths.run / "podman-service.log"

    @property
    def running(self) -> bool:
        """True while the service process is alive."""
        return self._process is not None and self._process.poll() is None

    def global_options(self) -> list[str]:
        """``--root``/``--runroot`` when Paths names a private storage, else nothing."""
        if self.paths.storage is None:
            return []
        return ["--root", str(self.paths.storage), "--runroot", str(self.paths.run / "runroot")]

    def command(self) -> list[str]:
        """The full command line of the service."""
        return [
            self.podman_binary(),
            *self.global_options(),
            "system",
            "service",
            "--time=0",
            self.url,
        ]

    def podman_binary(self) -> str:
        """The podman executable on PATH; EngineError with the fix when there is none."""
        found = shutil.which("podman", path=self.environment.get("PATH"))
        if found is None:
            raise EngineError(f"podman is not installed: {INSTALL_HINT}")
        if self.environment["CONTAINERS_CONF"] == str(packaged_containers_conf()) and (
            shutil.which("runc", path=self.environment.get("PATH")) is None
        ):
            raise EngineError(
                f"runc (the runtime in {packaged_containers_conf()}) is missing: {INSTALL_HINT}"
            )
        return found

    def start(self) -> None:
        """Start the service and wait until its socket answers; EngineError when it does not."""
        if self.running:
            return
        command = self.command()
        self.paths.run.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._log_handle = self.log_path.open("ab")
        # A session of its own: a Ctrl-C on the console must not take the engine down.
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=self._log_handle,
            env=self.environment,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise EngineError(
                    f"podman system service exited with code {self._process.returncode}: "
                    f"{self._last_log_line()} (log: {self.log_path})"
                )
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise EngineError(
                    f"podman system service did not answer on {self.socket_path} within "
                    f"{self.ready_timeout:g}s (log: {self.log_path})"
                )
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2.0)
                sock.connect(str(self.socket_path))
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
                return sock.recv(64).split(b" ")[1:2] == [b"200"]
        except OSError:
            return False

    def _last_log_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        """SIGTERM to the service's process group, SIGKILL after ``stop_timeout``; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
