"""A real docker-registry (distribution) on 127.0.0.1, storage in a temp dir, for tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Registry:
    """``docker-registry serve`` on 127.0.0.1:<free port>: plain http, or TLS when ``tls`` is
    ``(certificate, key)`` (the certificate needs subjectAltName=IP:127.0.0.1; ``ca`` is then
    used to check it is up). Deletion is enabled. Use as a context manager or start/stop."""

    def __init__(
        self,
        directory: Path,
        *,
        tls: tuple[Path, Path] | None = None,
        ca: Path | None = None,
    ) -> None:
        self.directory = directory
        self.tls = tls
        self.ca = ca
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of an image reference."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL (http or https)."""
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def config(self) -> str:
        """The registry's config.yml."""
        lines = [
            "version: 0.1",
            "log: {level: warn, accesslog: {disabled: true}}",
            "storage:",
            f"  filesystem: {{rootdirectory: {self.directory / 'data'}}}",
            "  delete: {enabled: true}",
            "http:",
            f"  addr: {self.host}",
        ]
        if self.tls is not None:
            lines.append(f"  tls: {{certificate: {self.tls[0]}, key: {self.tls[1]}}}")
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 20.0) -> Registry:
        """Start the registry and wait until ``/v2/`` answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "config.yml"
        config.write_text(self.config())
        log = (self.directory / "registry.log").open("ab")
        self._process = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        verify: bool | str = str(self.ca) if self.ca else True
        while True:
            if self._process.poll() is not None:
                text = (self.directory / "registry.log").read_text(errors="replace")
                raise AssertionError(f"docker-registry exited: {text.strip()[-500:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/v2/", timeout=1, verify=verify).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"docker-registry did not answer on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the registry process; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def insecure_registries_conf(path: Path, *hosts: str) -> Path:
    """Write a registries.conf marking ``hosts`` as plain-http registries; point podman at it
    with CONTAINERS_REGISTRIES_CONF. Short names are not searched anywhere."""
    entries = [f'[[registry]]\nlocation = "{host}"\ninsecure = true\n' for host in hosts]
    path.write_text("unqualified-search-registries = []\n\n" + "\n".join(entries))
    return path
