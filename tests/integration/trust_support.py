"""Real trust parts for tests: a test CA and server certificates (openssl), GPG keys (gpg),
images signed with ``podman push --sign-by`` into a lookaside directory, and an HTTP(S) server
whose answers a test scripts (faults included). Plain functions and classes; no mocks."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.podman_cli import PodmanCli


def _run(
    command: list[str], env: Mapping[str, str] | None = None, stdin: bytes | None = None
) -> bytes:
    result = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        env=dict(env) if env else None,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed: {result.stderr.decode().strip()}")
    return result.stdout


@dataclass(frozen=True)
class CertAuthority:
    """A certificate authority made for one test session: ``cert`` is what clients trust."""

    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path, name: str = "Iguana Test CA") -> CertAuthority:
        """A new CA (EC P-256, valid two days) under ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / "ca.pem", directory / "ca.key"
        _run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-days",
                "2",
                "-subj",
                f"/CN={name}",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]
        )
        return cls(cert, key)

    def server_cert(self, directory: Path, ip: str = "127.0.0.1") -> tuple[Path, Path]:
        """A server certificate for ``ip`` signed by this CA: (certificate, key)."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key, csr = (
            directory / "server.pem",
            directory / "server.key",
            directory / "server.csr",
        )
        ext = directory / "server.ext"
        ext.write_text(
            f"subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        )
        _run(
            [
                "openssl",
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(csr),
                "-subj",
                f"/CN={ip}",
            ]
        )
        _run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(self.cert),
                "-CAkey",
                str(self.key),
                "-CAcreateserial",
                "-out",
                str(cert),
                "-days",
                "2",
                "-extfile",
                str(ext),
            ]
        )
        return cert, key


@dataclass(frozen=True)
class GpgKey:
    """A signing key in its own GNUPGHOME; ``keyring`` is its public key as a binary keyring."""

    home: Path
    fingerprint: str
    keyring: Path

    @classmethod
    def create(cls, directory: Path, name: str) -> GpgKey:
        """A new RSA 2048 signing key without passphrase (gpgme signs for podman with it)."""
        home = directory / f"gnupg-{name}"
        home.mkdir(parents=True, mode=0o700)
        base = [
            "gpg",
            "--homedir",
            str(home),
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]
        _run([*base, "--quick-gen-key", f"{name} <{name}@iguana.test>", "rsa2048", "sign", "2d"])
        listing = _run(["gpg", "--homedir", str(home), "--with-colons", "--list-keys"]).decode()
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        keyring = directory / f"{name}.gpg"
        keyring.write_bytes(_run(["gpg", "--homedir", str(home), "--export", fingerprint]))
        return cls(home, fingerprint, keyring)

    def detach_sign(self, data: bytes) -> bytes:
        """A binary detached signature of ``data``."""
        return _run(
            [
                "gpg",
                "--homedir",
                str(self.home),
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--local-user",
                self.fingerprint,
                "--detach-sign",
                "--output",
                "-",
            ],
            stdin=data,
        )

    def close(self) -> None:
        """Stop the gpg-agent this key's home started."""
        subprocess.run(
            ["gpgconf", "--homedir", str(self.home), "--kill", "all"],
            capture_output=True,
            check=False,
        )


def combine_keyrings(target: Path, *keys: GpgKey) -> Path:
    """A binary keyring holding the public keys of ``keys``."""
    target.write_bytes(b"".join(key.keyring.read_bytes() for key in keys))
    return target


def push_signed(
    podman: PodmanCli,
    image: str,
    destination: str,
    *,
    ca: Path,
    lookaside: Path,
    key: GpgKey | None,
    scratch: Path,
) -> None:
    """Push ``image`` to ``destination`` over TLS trusting ``ca``; with ``key`` also write a
    simple signing signature for its manifest into the ``lookaside`` directory."""
    home = scratch / "push-home"
    config = home / ".config" / "containers"
    registry = destination.split("/", 1)[0]
    (config / "registries.d").mkdir(parents=True, exist_ok=True)
    (config / "registries.d" / "lookaside.yaml").write_text(
        json.dumps({"docker": {registry: {"lookaside": f"file://{lookaside}"}}})
    )
    certs = scratch / "push-certs"
    certs.mkdir(exist_ok=True)
    shutil.copyfile(ca, certs / "ca.crt")
    env = {**podman.env, "HOME": str(home)}
    command = ["push", "--cert-dir", str(certs), image, f"docker://{destination}"]
    if key is not None:
        env["GNUPGHOME"] = str(key.home)
        command[1:1] = ["--sign-by", key.fingerprint]
    PodmanCli(podman.root, podman.runroot, env).run(*command)


def registry_digest(podman: PodmanCli, reference: str, ca: Path, scratch: Path) -> str:
    """The manifest digest ``reference`` has in the registry right now (skopeo inspect)."""
    certs = scratch / "inspect-certs"
    certs.mkdir(exist_ok=True)
    shutil.copyfile(ca, certs / "ca.crt")
    out = _run(
        [
            "skopeo",
            "inspect",
            "--cert-dir",
            str(certs),
            "--format",
            "{{.Digest}}",
            f"docker://{reference}",
        ],
        env=podman.env,
    )
    return out.decode().strip()


@dataclass
class Answer:
    """One scripted answer: a status with body and headers, or ``hang`` seconds of silence."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


class ScriptedServer:
    """An HTTP (or HTTPS, with ``tls``) server on 127.0.0.1 in a thread. ``script[path]`` is a
    list of Answers given in order, the last one repeated; ``hits[path]`` counts requests."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.script: dict[str, list[Answer]] = {}
        self.hits: dict[str, int] = {}
        self.released = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                number = owner.hits.get(self.path, 0)
                owner.hits[self.path] = number + 1
                answers = owner.script.get(self.path) or [Answer(404, b"not found\n")]
                answer = answers[min(number, len(answers) - 1)]
                if answer.hang:
                    owner.released.wait(answer.hang)
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.httpd.server_address[1])

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this server."""
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, *answers: Answer) -> str:
        """Script ``path`` and return its URL."""
        self.script[path] = list(answers)
        return self.url(path)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """Measure the block: the list holds its duration in seconds afterwards."""
    box: list[float] = []
    started = time.monotonic()
    try:
        yield box
    finally:
        box.append(time.monotonic() - started)


def unmount_under(directory: Path) -> None:
    """Unmount everything mounted below ``directory`` (podman's overlay storage), deepest first."""
    prefix = str(directory.absolute()) + "/"
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        targets = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def gnupg_env(home: Path) -> dict[str, str]:
    """The environment with GNUPGHOME set to ``home``."""
    return {**os.environ, "GNUPGHOME": str(home)}
