"""Fetching the workflow against real servers on 127.0.0.1: a scripted HTTP(S) server with a
test CA for faults, TLS and signatures, and gpg/gpgv for the detached signature."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.checkpoint import BootRecord
from iguana_fsm.cmdline import BootConfig
from iguana_fsm.errors import FetchError, TrustError
from iguana_fsm.host import SandboxHost
from iguana_fsm.paths import Paths
from iguana_fsm.stages import fetch as fetch_stage
from iguana_fsm.stages.base import BootContext, SourceKind, WorkflowSource
from iguana_fsm.trust.fetcher import FetchSettings, HTTPStatusError, fetch
from iguana_fsm.trust.signature import sha256_hex
from iguana_fsm.trust.source import fetch_settings
from tests.integration.trust_support import Answer, CertAuthority, GpgKey, ScriptedServer, timed
from tests.support.registry import free_port
from tests.unit.fake_engine import FakeEngine

pytestmark = pytest.mark.integration

WORKFLOW = b"jobs:\n  one:\n    container:\n      image: registry.example.org/one:1\n"
BUNDLED = b"jobs:\n  bundled:\n    container:\n      image: registry.example.org/bundled:1\n"
FAST = FetchSettings(attempt_timeout=1.0, deadline=3.0, backoff_first=0.1, backoff_max=0.4)


class Recorder:
    """A logger that keeps every event, so tests can read the attempts."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def _log(self, level: str, event: str, **fields: Any) -> None:
        self.events.append((level, event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log("error", event, **fields)

    def named(self, event: str) -> list[dict[str, Any]]:
        """The fields of every event called ``event``."""
        return [fields for _, name, fields in self.events if name == event]


@dataclass
class Keys:
    """The test CA with a server certificate, a trusted key and a stranger's key."""

    ca: CertAuthority
    server: tuple[Path, Path]
    trusted: GpgKey
    stranger: GpgKey


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    """Made once for the module; the gpg agents are stopped afterwards."""
    top = tmp_path_factory.mktemp("fetch-keys")
    ca = CertAuthority.create(top / "ca")
    made = Keys(
        ca,
        ca.server_cert(top / "server"),
        GpgKey.create(top, "trusted"),
        GpgKey.create(top, "stranger"),
    )
    yield made
    made.trusted.close()
    made.stranger.close()


@pytest.fixture
def https(keys: Keys) -> Iterator[ScriptedServer]:
    """An HTTPS server with a certificate from the test CA."""
    with ScriptedServer(tls=keys.server) as server:
        yield server


@pytest.fixture
def http() -> Iterator[ScriptedServer]:
    """A plain HTTP server."""
    with ScriptedServer() as server:
        yield server


def paths_with(
    tmp_path: Path, keys: Keys, *, ca: bool = True, keyring: bool = True, bundled: bool = False
) -> Paths:
    """Sandbox paths whose /etc/iguana holds the test CA and the trusted keyring."""
    paths = Paths.for_sandbox(tmp_path / "sandbox")
    paths.config.mkdir(parents=True)
    if ca:
        (paths.config / "ca.pem").write_bytes(keys.ca.cert.read_bytes())
    if keyring:
        (paths.config / "trusted.gpg").write_bytes(keys.trusted.keyring.read_bytes())
    if bundled:
        paths.bundled_workflow.write_bytes(BUNDLED)
    return paths


def boot(paths: Paths, config: BootConfig, kind: str, value: str) -> tuple[BootContext, Recorder]:
    """A context in the fetch state whose locate stage chose ``kind``/``value``."""
    log = Recorder()
    ctx = BootContext(
        config=config,
        paths=paths,
        engine=FakeEngine(),
        host=SandboxHost(),
        record=BootRecord(run_id=uuid.uuid4().hex, state="fetch", sandbox=True),
        log=log,
        progress=lambda _line: None,
        save=lambda: None,
    )
    ctx.source = WorkflowSource(SourceKind(kind), value)
    return ctx, log


class TestFaults:
    def test_refused_connection_retried_until_deadline(self) -> None:
        """Nothing listening: attempts are retried with backoff and the deadline ends them."""
        url = f"http://127.0.0.1:{free_port()}/workflow.yaml"
        log = Recorder()
        with timed() as took, pytest.raises(FetchError) as caught:
            fetch(url, dataclasses.replace(FAST, allow_http=True), log)
        assert took[0] < FAST.deadline + 0.5
        attempts = log.named("fetch.attempt")
        assert len(attempts) >= 3
        assert [a["number"] for a in attempts] == list(range(1, len(attempts) + 1))
        assert attempts[1]["reason"].startswith("retry after: cannot connect")
        message = str(caught.value)
        assert url in message and "Connection refused" in message and "deadline 3s" in message

    def test_503_then_200(self, https: ScriptedServer, keys: Keys, tmp_path: Path) -> None:
        """A 503 is retried and the 200 that follows is the result."""
        url = https.serve("/w.yaml", Answer(503), Answer(200, WORKFLOW))
        settings = dataclasses.replace(FAST, ca_bundle=keys.ca.cert)
        log = Recorder()
        result = fetch(url, settings, log)
        assert result.data == WORKFLOW and result.attempts == 2
        assert https.hits["/w.yaml"] == 2
        assert (
            log.named("fetch.attempt")[1]["reason"] == "retry after: HTTP 503 Service Unavailable"
        )

    def test_404_is_not_retried(self, https: ScriptedServer, keys: Keys) -> None:
        """A 404 fails at once, after one request."""
        url = https.serve("/missing.yaml", Answer(404, b"no"))
        log = Recorder()
        with pytest.raises(HTTPStatusError, match="HTTP 404 Not Found") as caught:
            fetch(url, dataclasses.replace(FAST, ca_bundle=keys.ca.cert), log)
        assert caught.value.status == 404 and https.hits["/missing.yaml"] == 1
        assert len(log.named("fetch.attempt")) == 1 and not log.named("fetch.retry")

    def test_server_that_never_answers(self, https: ScriptedServer, keys: Keys) -> None:
        """A server that accepts but never answers is timed out per attempt within the deadline."""
        url = https.serve("/slow.yaml", Answer(hang=30))
        answered = r"no (complete )?answer within"
        with timed() as took, pytest.raises(FetchError, match=answered) as caught:
            fetch(url, dataclasses.replace(FAST, ca_bundle=keys.ca.cert), Recorder())
        assert took[0] < FAST.deadline + 1.0
        assert "gave up after" in str(caught.value)
        assert https.hits["/slow.yaml"] >= 2

    def test_redirect_from_https_to_http_refused(
        self, https: ScriptedServer, http: ScriptedServer, keys: Keys
    ) -> None:
        """A redirect that would drop TLS is refused and not followed."""
        target = http.serve("/w.yaml", Answer(200, WORKFLOW))
        url = https.serve("/w.yaml", Answer(302, headers={"Location": target}))
        with pytest.raises(TrustError, match="redirect to plain http"):
            fetch(
                url, dataclasses.replace(FAST, ca_bundle=keys.ca.cert, allow_http=True), Recorder()
            )
        assert http.hits.get("/w.yaml", 0) == 0

    def test_redirect_within_https_followed(self, https: ScriptedServer, keys: Keys) -> None:
        """A redirect to another https URL is followed."""
        https.serve("/new.yaml", Answer(200, WORKFLOW))
        url = https.serve("/old.yaml", Answer(301, headers={"Location": "/new.yaml"}))
        result = fetch(url, dataclasses.replace(FAST, ca_bundle=keys.ca.cert), Recorder())
        assert result.data == WORKFLOW and result.location.endswith("/new.yaml")


class TestTLS:
    def test_unknown_ca_fails_at_once_with_the_fix(self, https: ScriptedServer) -> None:
        """Without the test CA the fetch fails on the first attempt and names the fix."""
        url = https.serve("/w.yaml", Answer(200, WORKFLOW))
        log = Recorder()
        with pytest.raises(FetchError) as caught:
            fetch(url, FAST, log)
        assert "TLS verification failed" in str(caught.value)
        assert "(certificate verify failed: unable to get local issuer certificate);" in str(
            caught.value
        )
        assert "/etc/iguana/ca.pem" in str(caught.value)
        assert https.hits.get("/w.yaml", 0) == 0
        assert len(log.named("fetch.attempt")) == 1 and not log.named("fetch.retry")

    def test_ca_from_config_dir_is_added_to_system_cas(
        self, https: ScriptedServer, keys: Keys, tmp_path: Path
    ) -> None:
        """/etc/iguana/ca.pem is trusted in addition to the system CAs, and the fetch works."""
        paths = paths_with(tmp_path, keys, keyring=False)
        url = https.serve("/w.yaml", Answer(200, WORKFLOW))
        settings = fetch_settings(BootConfig(), paths)
        assert settings.ca_bundle is not None
        bundle = settings.ca_bundle.read_bytes()
        assert keys.ca.cert.read_bytes() in bundle and bundle.count(b"BEGIN CERTIFICATE") > 1
        assert fetch(url, settings, Recorder()).data == WORKFLOW

    def test_plain_http_refused_without_pin_or_insecure(
        self, http: ScriptedServer, keys: Keys, tmp_path: Path
    ) -> None:
        """Plain http without a pin or rd.iguana.insecure=1 is refused before any request."""
        url = http.serve("/w.yaml", Answer(200, WORKFLOW))
        ctx, _ = boot(paths_with(tmp_path, keys, keyring=False), BootConfig(), "url", url)
        with pytest.raises(TrustError, match="plain http refused"):
            fetch_stage.run(ctx)
        assert http.hits.get("/w.yaml", 0) == 0

    def test_insecure_allows_plain_http_with_a_loud_warning(
        self, http: ScriptedServer, keys: Keys, tmp_path: Path
    ) -> None:
        """rd.iguana.insecure=1 allows plain http and says so in the log and the checkpoint."""
        url = http.serve("/w.yaml", Answer(200, WORKFLOW))
        paths = paths_with(tmp_path, keys, keyring=False)
        ctx, log = boot(paths, BootConfig(insecure=True), "url", url)
        assert fetch_stage.run(ctx) == "fetched"
        assert any("NOT protected" in warning for warning in ctx.record.warnings)
        assert log.named("fetch.insecure")


class TestSignatures:
    def test_good_signature(self, https: ScriptedServer, keys: Keys, tmp_path: Path) -> None:
        """A workflow with a good signature by a trusted key is fetched, parsed and copied."""
        url = https.serve("/w.yaml", Answer(200, WORKFLOW))
        https.serve("/w.yaml.sig", Answer(200, keys.trusted.detach_sign(WORKFLOW)))
        paths = paths_with(tmp_path, keys)
        ctx, _ = boot(paths, BootConfig(), "url", url)
        assert fetch_stage.run(ctx) == "fetched"
        assert ctx.workflow is not None and [job.id for job in ctx.workflow.jobs] == ["one"]
        assert ctx.record.workflow_sha256 == sha256_hex(WORKFLOW)
        assert ctx.record.workflow_source == url
        assert paths.workflow_copy.read_bytes() == WORKFLOW
        verdict = ctx.record.trust.workflow
        assert verdict is not None and verdict.signed_by == keys.trusted.fingerprint

    def test_tampered_workflow_refused(
        self, https: ScriptedServer, keys: Keys, tmp_path: Path
    ) -> None:
        """Content changed after signing is refused, and nothing is parsed or copied."""
        tampered = WORKFLOW.replace(b"one:1", b"evil:1")
        url = https.serve("/w.yaml", Answer(200, tampered))
        https.serve("/w.yaml.sig", Answer(200, keys.trusted.detach_sign(WORKFLOW)))
        paths = paths_with(tmp_path, keys)
        ctx, _ = boot(paths, BootConfig(), "url", url)
        with pytest.raises(TrustError, match="signature does not match the content") as caught:
            fetch_stage.run(ctx)
        assert url in str(caught.value)
        assert ctx.workflow is None and not paths.workflow_copy.exists()

    def test_missing_signature_refused(
        self, https: ScriptedServer, keys: Keys, tmp_path: Path
    ) -> None:
        """With a keyring configured, a workflow without URL.sig is refused."""
        url = https.serve("/w.yaml", Answer(200, WORKFLOW))
        ctx, _ = boot(paths_with(tmp_path, keys), BootConfig(), "url", url)
        with pytest.raises(TrustError, match=r"no signature at .*/w\.yaml\.sig"):
            fetch_stage.run(ctx)

    def test_signature_by_unknown_key_refused(
        self, https: ScriptedServer, keys: Keys, tmp_path: Path
    ) -> None:
        """A good signature by a key outside trusted.gpg is refused, naming the keyring."""
        url = https.serve("/w.yaml", Answer(200, WORKFLOW))
        https.serve("/w.yaml.sig", Answer(200, keys.stranger.detach_sign(WORKFLOW)))
        paths = paths_with(tmp_path, keys)
        ctx, _ = boot(paths, BootConfig(), "url", url)
        with pytest.raises(TrustError, match=r"which is not in .*trusted\.gpg"):
            fetch_stage.run(ctx)

    def test_local_file_with_signature_beside_it(self, keys: Keys, tmp_path: Path) -> None:
        """A file:// workflow is checked against FILE.sig like a URL, good and tampered."""
        paths = paths_with(tmp_path, keys)
        workflow = tmp_path / "control.yaml"
        workflow.write_bytes(WORKFLOW)
        (tmp_path / "control.yaml.sig").write_bytes(keys.trusted.detach_sign(WORKFLOW))
        ctx, _ = boot(paths, BootConfig(), "file", f"file://{workflow}")
        assert fetch_stage.run(ctx) == "fetched"
        workflow.write_bytes(WORKFLOW + b"# changed\n")
        ctx, _ = boot(paths, BootConfig(), "file", str(workflow))
        with pytest.raises(TrustError, match="does not match"):
            fetch_stage.run(ctx)


class TestPin:
    def test_matching_pin_over_plain_http(
        self, http: ScriptedServer, keys: Keys, tmp_path: Path
    ) -> None:
        """A pinned workflow may come over plain http (with a warning) when the digest matches."""
        url = http.serve("/w.yaml", Answer(200, WORKFLOW))
        pin = "sha256:" + sha256_hex(WORKFLOW)
        ctx, _ = boot(paths_with(tmp_path, keys), BootConfig(control_digest=pin), "url", url)
        assert fetch_stage.run(ctx) == "fetched"
        assert ctx.record.trust.workflow is not None
        assert ctx.record.trust.workflow.pinned is True
        assert any("digest pin" in warning for warning in ctx.record.warnings)

    def test_mismatching_pin_refused(
        self, https: ScriptedServer, keys: Keys, tmp_path: Path
    ) -> None:
        """A workflow whose sha256 is not the pin is refused, naming both digests."""
        url = https.serve("/w.yaml", Answer(200, WORKFLOW))
        https.serve("/w.yaml.sig", Answer(200, keys.trusted.detach_sign(WORKFLOW)))
        pin = "sha256:" + "ab" * 32
        ctx, _ = boot(paths_with(tmp_path, keys), BootConfig(control_digest=pin), "url", url)
        with pytest.raises(TrustError) as caught:
            fetch_stage.run(ctx)
        assert sha256_hex(WORKFLOW) in str(caught.value) and "ab" * 32 in str(caught.value)


class TestFallback:
    def test_unreachable_falls_back_to_bundled_when_allowed(
        self, keys: Keys, tmp_path: Path
    ) -> None:
        """rd.iguana.fallback=1: an unreachable URL gives the bundled workflow in the deadline."""
        paths = paths_with(tmp_path, keys, bundled=True)
        url = f"https://127.0.0.1:{free_port()}/w.yaml"
        config = BootConfig(fallback=True, fetch_timeout=1.0, fetch_deadline=2.0)
        ctx, log = boot(paths, config, "url", url)
        with timed() as took:
            assert fetch_stage.run(ctx) == "fetched"
        assert took[0] < 3.0
        assert ctx.workflow is not None and ctx.workflow.jobs[0].id == "bundled"
        assert ctx.record.workflow_source == str(paths.bundled_workflow)
        assert any("rd.iguana.fallback=1" in warning for warning in ctx.record.warnings)
        assert log.named("fetch.fallback")

    def test_unreachable_fails_without_fallback(self, keys: Keys, tmp_path: Path) -> None:
        """Without rd.iguana.fallback the same failure ends the boot with the URL."""
        paths = paths_with(tmp_path, keys, bundled=True)
        url = f"https://127.0.0.1:{free_port()}/w.yaml"
        config = BootConfig(fetch_timeout=1.0, fetch_deadline=2.0)
        ctx, _ = boot(paths, config, "url", url)
        with pytest.raises(FetchError, match="gave up after"):
            fetch_stage.run(ctx)

    def test_refusal_never_falls_back(
        self, https: ScriptedServer, keys: Keys, tmp_path: Path
    ) -> None:
        """A tampered workflow is refused even when a fallback is allowed."""
        url = https.serve("/w.yaml", Answer(200, WORKFLOW))
        https.serve("/w.yaml.sig", Answer(200, keys.trusted.detach_sign(BUNDLED)))
        paths = paths_with(tmp_path, keys, bundled=True)
        ctx, _ = boot(paths, BootConfig(fallback=True), "url", url)
        with pytest.raises(TrustError):
            fetch_stage.run(ctx)


class TestBoot:
    def test_tampered_workflow_ends_the_boot_in_fetch(
        self, https: ScriptedServer, keys: Keys, tmp_path: Path
    ) -> None:
        """`iguana run` on a tampered workflow exits 4; `iguana status` names the URL and rule."""
        url = https.serve("/w.yaml", Answer(200, WORKFLOW + b"# changed\n"))
        https.serve("/w.yaml.sig", Answer(200, keys.trusted.detach_sign(WORKFLOW)))
        paths = paths_with(tmp_path, keys)
        top = ["--sandbox", str(tmp_path / "sandbox")]
        cli = [sys.executable, "-m", "iguana_fsm"]
        run = subprocess.run(
            [*cli, "run", *top, "--batch", "--workflow", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == TrustError.exit_code, run.stderr
        status = subprocess.run(
            [*cli, "status", *top, "--json"], capture_output=True, text=True, check=False
        )
        record = json.loads(status.stdout)
        assert record["failed_state"] == "fetch"
        assert f"{url}: signature does not match the content" in json.dumps(record["error"])
        assert not paths.workflow_copy.exists()


class Trickler:
    """A real HTTP server on 127.0.0.1 that answers 200 with a body (or its status line) one
    byte at a time, ``pause`` seconds apart, and counts the bytes it got out before the client
    went away."""

    def __init__(self, body: bytes, pause: float, headers_too: bool = False) -> None:
        self.body = body
        self.pause = pause
        self.headers_too = headers_too
        self.sent = 0
        self.done = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The URL of the trickled workflow."""
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/workflow.yaml"

    def _serve(self) -> None:
        with self.listener:
            connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.body)}\r\n\r\n".encode()
            if not self.headers_too:
                connection.sendall(head)
            payload = (head if self.headers_too else b"") + self.body
            try:
                for byte in payload:
                    connection.sendall(bytes([byte]))
                    self.sent += 1
                    time.sleep(self.pause)
            except OSError:
                pass  # the client hung up: what it took is counted
        self.done.set()


class TestTrickle:
    @pytest.mark.parametrize("headers_too", [False, True], ids=["body", "status-line"])
    def test_a_trickling_server_is_cut_at_the_deadline(self, headers_too: bool) -> None:
        """A server that sends a byte every 0.1 s keeps each read alive, yet the fetch ends
        at its total deadline (the attempt's sockets are shut down), long before the 40 s the
        server would take; the error names the deadline."""
        body = WORKFLOW + b"#" * (400 - len(WORKFLOW))
        server = Trickler(body, pause=0.1, headers_too=headers_too)
        settings = FetchSettings(
            attempt_timeout=3.0, deadline=3.0, allow_http=True, backoff_first=0.1
        )
        log = Recorder()
        with pytest.raises(
            FetchError,
            match=r"gave up after 1 attempt\(s\) in [0-9.]+s "
            r"\(deadline 3s\): no complete answer within 3.0s",
        ) as caught:
            fetch(server.url, settings, log)
        assert server.done.wait(30), "the server was not hung up on"
        # the client hung up mid-trickle: far from the whole answer (40 s of it) got out
        assert server.sent < len(body) // 2
        print(f"trickle cut: {caught.value}; {server.sent} of {len(body)} bytes sent")
