"""The Engine on real podman: podman-py talking to Iguana's own ``podman system service``.

The only module that imports podman. Containers are created from a libpod SpecGenerator that
this module writes itself (podman-py cannot express anonymous volumes), and every one of them is
privileged, on the host network, with ``/dev`` and ``/iguana`` bind-mounted and the run label.

podman-py has no attach. A job on a terminal console is attached with ``podman --url SOCKET
start --attach --interactive`` for that one step, on a pseudo-terminal of our own (bytes proxied
both ways, like ``script``), so the podman client does the terminal work (raw mode, resizes).
Every other job talks to the service's attach endpoint directly, opened before the job starts:
its output comes back as frames, and (interactive) our stdin goes to it with EOF passed on.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import re
import select
import signal
import socket
import subprocess
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import Any

import podman
import podman.errors
import requests
import structlog

from iguana_fsm.engine.base import (
    RUN_LABEL,
    TAIL_LINES,
    ContainerSpec,
    ImageInfo,
    JobResult,
    OutputSink,
    repository,
)
from iguana_fsm.engine.service import PodmanService
from iguana_fsm.errors import EngineError, PullError
from iguana_fsm.paths import Paths

"""How many last lines of a job's output JobResult.tail keeps."""

_UNREAD_STDIN = re.compile(
    rb"Error: (read|write) unixpacket \S*/attach: \w+: (connection reset by peer|broken pipe)"
)
"""What the service writes into stderr when a job ends without reading all the stdin we passed
on: podman's note about its copy, not the job's output."""

_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


class OutputLines:
    """Splits a byte stream into lines for ``sink`` and keeps the last ``TAIL_LINES``.

    Terminal escapes are dropped and a carriage return keeps only what was drawn last, so a
    progress bar becomes one readable line in the log.
    """

    def __init__(self, sink: OutputSink) -> None:
        self._sink = sink
        self._pending = b""
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    def feed(self, data: bytes) -> None:
        """Take more output; every complete line goes to the sink."""
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            self._emit(line)

    def close(self) -> None:
        """Hand over a last line that had no newline."""
        if self._pending:
            self._emit(self._pending)
            self._pending = b""

    def _emit(self, raw: bytes) -> None:
        text = _ANSI.sub(b"", raw).rstrip(b"\r").rsplit(b"\r", 1)[-1]
        line = text.decode("utf-8", errors="replace")
        self.tail.append(line)
        self._sink(line)


def container_body(
    spec: ContainerSpec, run_id: str, *, terminal: bool = False, stdin: bool = False
) -> dict[str, Any]:
    """The libpod SpecGenerator for ``spec``: privileged, host network, /dev, /iguana, labels."""
    mounts: list[dict[str, Any]] = [
        {"type": "bind", "source": "/dev", "destination": "/dev", "options": ["rbind"]},
        {
            "type": "bind",
            "source": str(spec.iguana_dir),
            "destination": "/iguana",
            "options": ["rbind"],
        },
    ]
    volumes: list[dict[str, Any]] = []
    for volume in spec.volumes:
        options = ["ro"] if volume.read_only else []
        if volume.is_bind:
            mounts.append(
                {
                    "type": "bind",
                    "source": volume.source,
                    "destination": volume.target,
                    "options": ["rbind", *options],
                }
            )
        else:
            # An empty name makes podman create an anonymous volume, removed with the container.
            volumes.append({"Name": volume.source or "", "Dest": volume.target, "Options": options})
    return {
        "name": spec.name,
        "image": spec.image,
        "env": dict(spec.env),
        "labels": {**spec.labels, RUN_LABEL: run_id},
        "privileged": True,
        "netns": {"nsmode": "host"},
        "mounts": mounts,
        "volumes": volumes,
        "terminal": terminal,
        "stdin": stdin,
    }


def _explain(error: BaseException) -> str:
    """podman's own words from a podman-py or requests error, on one line."""
    text = getattr(error, "explanation", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())


@contextlib.contextmanager
def _engine_errors(what: str) -> Iterator[None]:
    """Turn podman-py and connection errors into an EngineError naming ``what``."""
    try:
        yield
    except EngineError:
        raise
    except (podman.errors.PodmanError, requests.RequestException) as error:
        raise EngineError(f"{what}: {_explain(error)}") from error


class PodmanEngine:
    """The Engine protocol on podman. ``start`` launches the private service; every container
    carries ``RUN_LABEL=run_id``; ``env_overlay`` reaches podman (e.g. HOME for trust config).

    ``stop_grace``: seconds between SIGTERM and SIGKILL when a container is stopped;
    ``service_settle``: how long a service without a health check must keep running to count
    as started (one that dies at once is an error, not a running service)."""

    def __init__(
        self,
        paths: Paths,
        run_id: str,
        *,
        env_overlay: Mapping[str, str] | None = None,
        log: Any = None,
        stop_grace: float = 10.0,
        service_ready_timeout: float = 30.0,
        service_settle: float = 0.3,
    ) -> None:
        self.paths = paths
        self.run_id = run_id
        self.stop_grace = stop_grace
        self.service_settle = service_settle
        self._log = log if log is not None else structlog.get_logger("iguana.engine")
        self.service = PodmanService(
            paths, env=env_overlay, ready_timeout=service_ready_timeout, log=self._log
        )
        self._client: Any = None
        self._containers: set[str] = set()

    @property
    def client(self) -> Any:
        """The podman-py client; EngineError before ``start``."""
        if self._client is None:
            raise EngineError("the podman engine is not started")
        return self._client

    def start(self) -> None:
        """Start the private podman service and connect to it."""
        began = time.monotonic()
        self.service.start()
        try:
            with _engine_errors(f"podman service at {self.service.url}"):
                self._client = podman.PodmanClient(base_url=self.service.url)
                version = self._client.version().get("Version", "?")
        except BaseException:
            self.stop()
            raise
        self._log.info(
            "engine.started",
            socket=str(self.service.socket_path),
            podman=version,
            seconds=round(time.monotonic() - began, 3),
        )

    def stop(self) -> None:
        """Remove the containers this engine still has, then stop the service; idempotent."""
        if self._client is not None:
            for container_id in sorted(self._containers):
                with contextlib.suppress(EngineError):
                    self._discard(container_id)
            self._client.close()
            self._client = None
        # Also when podman died on its own: its pid file, socket, log and mounts stay otherwise.
        was_running = self.service.running
        self.service.stop()
        if was_running:
            self._log.info("engine.stopped")

    def pull(self, reference: str) -> ImageInfo:
        """Pull ``reference``; any error the service reports, even inside the stream, raises
        PullError with podman's words. The digest is the manifest digest of the repository."""
        image_id: str | None = None
        try:
            # tls_verify=None leaves TLS to registries.conf: podman-py would force it on.
            stream = self.client.images.pull(
                reference, stream=True, decode=True, compatMode=False, tls_verify=None
            )
            for item in stream:
                if item.get("error"):
                    raise PullError(f"pull {reference}: {_explain_text(item['error'])}")
                image_id = item.get("id") or image_id
        except (podman.errors.PodmanError, requests.RequestException) as error:
            raise PullError(f"pull {reference}: {_explain(error)}") from error
        if image_id is None:
            raise PullError(f"pull {reference}: podman reported no image")
        with _engine_errors(f"inspect {reference}"):
            attrs = self.client.images.get(image_id).attrs
        info = ImageInfo(reference, image_id, _manifest_digest(reference, attrs))
        self._log.info("image.pulled", image=reference, id=image_id, digest=info.digest)
        return info

    def remove_image(self, reference: str) -> None:
        """Remove the name ``reference`` (for ``repo@sha256:...``: every name of that
        repository); the image itself, and its layers, go with its last name. Missing is fine;
        EngineError while a container still uses an image that would go."""
        try:
            image = self.client.images.get(reference)
        except (podman.errors.NotFound, podman.errors.ImageNotFound):
            return
        except (podman.errors.PodmanError, requests.RequestException) as error:
            raise EngineError(f"remove image {reference}: {_explain(error)}") from error
        tags = [str(name) for name in image.attrs.get("RepoTags") or []]
        digests = [str(name) for name in image.attrs.get("RepoDigests") or []]
        ours = [tag for tag in tags if _names_match(tag, reference)]
        others = [tag for tag in tags if tag not in ours]
        # A digest name belongs to its repository; it stays only for another repository.
        others += [name for name in digests if not _same_repository(name, reference)]
        with _engine_errors(f"remove image {reference}"):
            if others:
                # Another repository or tag still names this image: only our names go.
                for name in ours:
                    self.client.images.remove(name)
                # podman finds an image by digest under any repository: drop our digest name
                # only while it is still one of the image's names, or the image itself goes.
                digests = self.client.images.get(image.id).attrs.get("RepoDigests") or []
                if "@" in reference and reference in digests:
                    self.client.images.remove(reference)
                self._log.info("image.untagged", image=reference, id=image.id, kept=others)
                return
            users = self.client.containers.list(all=True, filters={"ancestor": image.id})
            if users:
                raise EngineError(
                    f"remove image {reference}: still used by container {users[0].name}"
                )
            # By id: every name of ours goes at once and the layers leave the (RAM) storage.
            self.client.images.remove(image.id, force=True)
        # The stage logs the removal with its job; this line is for debugging the engine.
        self._log.debug("image.removed", image=reference, id=image.id)

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        """Create the named volume with ``labels`` and the run label; reuse an existing one."""
        with _engine_errors(f"create volume {name}"):
            if self.client.volumes.exists(name):
                return
            self.client.volumes.create(name, labels={**labels, RUN_LABEL: self.run_id})
        # The stage logs the creation with its job; this line is for debugging the engine.
        self._log.debug("volume.created", volume=name)

    def remove_volume(self, name: str) -> None:
        """Remove the named volume; missing is fine."""
        with _engine_errors(f"remove volume {name}"):
            try:
                self.client.volumes.remove(name)
            except podman.errors.NotFound:
                return
        self._log.info("volume.removed", volume=name)

    def start_service(self, spec: ContainerSpec, ready_timeout: float) -> str:
        """Start ``spec`` detached; wait until it runs and, when its image has a health check,
        until it is healthy. EngineError (container removed) when it exits or is not ready in
        ``ready_timeout`` seconds."""
        container = self._create(spec, terminal=False, stdin=False)
        try:
            with _engine_errors(f"start service {spec.name} ({spec.image})"):
                container.start()
                health = self._wait_ready(container, spec, ready_timeout)
        except BaseException:
            with contextlib.suppress(EngineError):
                self._discard(container.id)
            raise
        self._log.info(
            "service.ready", service=spec.name, image=spec.image, id=container.id, health=health
        )
        return str(container.id)

    def _wait_ready(self, container: Any, spec: ContainerSpec, ready_timeout: float) -> str:
        """Poll the container's state (and run its health check) until ready; return the
        health status or ``none``."""
        deadline = time.monotonic() + ready_timeout
        health = "none"
        running_since: float | None = None
        while True:
            container.reload()
            state = container.attrs["State"]
            if not state.get("Running") and state.get("Status") not in ("created", "configured"):
                code = state.get("ExitCode")
                raise EngineError(
                    f"service {spec.name} ({spec.image}) exited with code {code} before it was "
                    f"ready: {self._last_lines(container)}"
                )
            if state.get("Running") and not _has_healthcheck(container.attrs):
                # Without a health check, "up" means it kept running for a moment.
                now = time.monotonic()
                running_since = running_since or now
                if now - running_since >= min(self.service_settle, ready_timeout):
                    return health
            elif state.get("Running"):
                # The service runs the check on request: no systemd timer is needed for it.
                response = self.client.api.get(f"/containers/{container.id}/healthcheck")
                # 409: it stopped meanwhile; the next look reports how it ended.
                if response.status_code != 409:
                    response.raise_for_status()
                    health = str(response.json().get("Status", "unknown"))
                    if health == "healthy":
                        return health
            if time.monotonic() > deadline:
                what = f"health check {health}" if health != "none" else "not running"
                raise EngineError(
                    f"service {spec.name} ({spec.image}) not ready after {ready_timeout:g}s: {what}"
                )
            time.sleep(0.25 if health != "none" else 0.05)

    def _last_lines(self, container: Any, count: int = 3) -> str:
        try:
            raw = b"".join(container.logs(tail=count, stdout=True, stderr=True))
        except (podman.errors.PodmanError, requests.RequestException):
            return "no output"
        text = " | ".join(line for line in raw.decode(errors="replace").splitlines() if line)
        return text or "no output"

    def stop_container(self, container_id: str) -> None:
        """Stop (SIGTERM, SIGKILL after ``stop_grace``) and remove a container by id."""
        self._discard(container_id)
        self._log.info("container.removed", id=container_id)

    def _discard(self, container_id: str) -> None:
        with _engine_errors(f"remove container {container_id[:12]}"):
            try:
                container = self.client.containers.get(container_id)
                if container.status in ("running", "paused"):
                    container.stop(timeout=self._grace_seconds)
                container.remove(force=True, v=True)
            except podman.errors.NotFound:
                pass
        self._containers.discard(container_id)

    @property
    def _grace_seconds(self) -> int:
        # The stop endpoint takes whole seconds only.
        return max(1, math.ceil(self.stop_grace))

    def _create(self, spec: ContainerSpec, *, terminal: bool, stdin: bool) -> Any:
        body = container_body(spec, self.run_id, terminal=terminal, stdin=stdin)
        with _engine_errors(f"create container {spec.name} ({spec.image})"):
            response = self.client.api.post(
                "/containers/create",
                headers={"content-type": "application/json"},
                data=json.dumps(body),
            )
            response.raise_for_status()
            container_id = str(response.json()["Id"])
            self._containers.add(container_id)
            container = self.client.containers.get(container_id)
        self._log.info("container.created", name=spec.name, image=spec.image, id=container_id)
        return container

    def run_job(
        self,
        spec: ContainerSpec,
        *,
        timeout: float | None,
        interactive: bool,
        output: OutputSink,
    ) -> JobResult:
        """Run ``spec`` to its end and remove it. Interactive: stdin from ours, on a terminal
        of its own when ours is one, output shown on our stdout; otherwise no stdin. Every line
        also goes to ``output``. The exit code is the container's (from its wait, not from an
        attach); ``timeout`` stops it (timed_out=True)."""
        use_tty = interactive and os.isatty(0)
        container = self._create(spec, terminal=use_tty, stdin=interactive)
        lines = OutputLines(output)
        expired = threading.Event()
        timer: threading.Timer | None = None

        def arm() -> None:
            nonlocal timer
            if timeout is not None:
                timer = threading.Timer(timeout, self._expire, (container, expired))
                timer.daemon = True
                timer.start()

        began = time.monotonic()
        try:
            with _engine_errors(f"run job {spec.name} ({spec.image})"):
                if use_tty:
                    _run_on_pty(
                        self._attach_command(container.id), self.service.environment, lines, arm
                    )
                    container.reload()
                    if container.status in ("created", "configured", "initialized"):
                        # The attach step failed to start it; its words are the last lines.
                        raise EngineError(
                            f"run job {spec.name} ({spec.image}): "
                            f"{' | '.join(list(lines.tail)[-3:]) or 'it did not start'}"
                        )
                else:
                    with self._attach_socket(
                        container.id, stdin=interactive, what=f"run job {spec.name} ({spec.image})"
                    ) as (sock, rest):
                        container.start()
                        arm()
                        _pump(
                            sock, rest, lines, stdin=interactive and _is_open(0), echo=interactive
                        )
                # podman polls the state every 250 ms unless told otherwise: a job's end is
                # noticed at once instead.
                exit_code = int(container.wait(condition=["exited", "stopped"], interval="10ms"))
        finally:
            if timer is not None:
                timer.cancel()
            lines.close()
            with contextlib.suppress(EngineError):
                self._discard(container.id)
        self._log.info(
            "job.container.finished",
            name=spec.name,
            image=spec.image,
            exit_code=exit_code,
            timed_out=expired.is_set(),
            seconds=round(time.monotonic() - began, 3),
        )
        return JobResult(exit_code, expired.is_set(), tuple(lines.tail))

    def _expire(self, container: Any, expired: threading.Event) -> None:
        """The job timer: stop the container (SIGTERM, then SIGKILL after ``stop_grace``)."""
        expired.set()
        self._log.warning("job.timeout", id=container.id)
        try:
            # The attach process may not have started it yet: wait briefly for it to run.
            for _ in range(50):
                container.reload()
                if container.status not in ("created", "configured", "initialized"):
                    break
                time.sleep(0.1)
            container.stop(timeout=self._grace_seconds)
        except (podman.errors.PodmanError, requests.RequestException) as error:
            self._log.error("job.timeout.stop_failed", id=container.id, error=_explain(error))

    @contextlib.contextmanager
    def _attach_socket(
        self, container_id: str, *, stdin: bool, what: str
    ) -> Iterator[tuple[socket.socket, bytes]]:
        """Attach to the container through the service's attach endpoint (podman-py has
        none) before it starts; yields the upgraded socket and the bytes already read.
        A refusal is an EngineError ``what: podman's message``; a socket error (refused,
        timed out, reset) one naming the socket and the container."""
        path = self.service.socket_path
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(30)
                sock.connect(str(path))
                sock.sendall(
                    f"POST /v4.0.0/libpod/containers/{container_id}/attach"
                    f"?stream=true&stdout=true&stderr=true&stdin={str(stdin).lower()} HTTP/1.1\r\n"
                    "Host: podman\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                    "Content-Length: 0\r\n\r\n".encode()
                )
                head, rest = _read_response_head(sock)
                status = head.split(b" ", 2)[1:2]
                if status not in ([b"101"], [b"200"]):
                    body = rest
                    with contextlib.suppress(OSError):
                        sock.settimeout(2)
                        body = body or sock.recv(65536)
                    raise EngineError(f"{what}: {_error_message(body)}")
                sock.setblocking(False)
                yield sock, rest
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            raise EngineError(
                f"{what}: attach socket {path} of container {container_id}: {reason}"
            ) from error

    def _attach_command(self, container_id: str) -> list[str]:
        return [
            self.service.podman_binary(),
            "--url",
            self.service.url,
            "start",
            "--attach",
            "--interactive",
            container_id,
        ]

    def remove_leftovers(self, run_id: str) -> list[str]:
        """Remove every container and volume labelled ``RUN_LABEL=run_id`` (an interrupted
        boot's); return ``container:<name>`` / ``volume:<name>`` for each."""
        removed: list[str] = []
        label = f"{RUN_LABEL}={run_id}"
        with _engine_errors(f"remove leftovers of run {run_id}"):
            for container in self.client.containers.list(all=True, filters={"label": label}):
                self._discard(container.id)
                removed.append(f"container:{container.name}")
            for volume in self.client.volumes.list(filters={"label": label}):
                self.remove_volume(volume.name)
                removed.append(f"volume:{volume.name}")
        if removed:
            self._log.info("engine.leftovers.removed", run=run_id, removed=removed)
        return removed


def _read_response_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """An HTTP response's status line and headers, and whatever came after them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > 65536:
            raise EngineError(f"the podman service answered an attach with {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _frames(buffer: bytearray) -> Iterator[tuple[int, bytes]]:
    """Take the complete frames of an attach stream without a terminal out of ``buffer``:
    an 8-byte header (stream: 1 stdout, 2 stderr; 0, 0, 0; big-endian size) and the bytes."""
    while len(buffer) >= 8:
        size = int.from_bytes(buffer[4:8], "big")
        if len(buffer) < 8 + size:
            return
        stream, payload = buffer[0], bytes(buffer[8 : 8 + size])
        del buffer[: 8 + size]
        yield stream, payload


def _pump(
    sock: socket.socket, pending: bytes, lines: OutputLines, *, stdin: bool, echo: bool
) -> None:
    """Until the container ends: its output from the attach socket to ``lines`` (and to our
    stdout when ``echo``), and with ``stdin`` our stdin to it, EOF passed on as a half-close.
    Our stdin is read only when the socket can take it, so neither side can block the other."""
    received = bytearray(pending)
    outgoing = b""
    reading_stdin = stdin
    while True:
        for stream, payload in _frames(received):
            if stream == 2 and _UNREAD_STDIN.match(payload):
                continue
            if echo:
                _write_all(1, payload)
            lines.feed(payload)
        readers: list[Any] = [sock] + ([0] if reading_stdin and not outgoing else [])
        writers = [sock] if outgoing else []
        try:
            readable, writable, _ = select.select(readers, writers, [])
        except InterruptedError:
            continue
        if 0 in readable:
            try:
                outgoing = os.read(0, 65536)
            except OSError:
                outgoing = b""
            if not outgoing:
                reading_stdin = False
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
        if sock in writable:
            try:
                outgoing = outgoing[sock.send(outgoing) :]
            except BlockingIOError:
                pass
            except OSError:
                # It stopped reading its stdin (or ended): drop the rest of ours.
                outgoing, reading_stdin = b"", False
        if sock in readable:
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                # It ended with our input unread; a unix socket delivers all output first.
                return
            if not chunk:
                return
            received.extend(chunk)


def _error_message(body: bytes) -> str:
    """The ``message`` of a JSON error answer from the service, else the body, on one line."""
    text = body.decode(errors="replace")
    with contextlib.suppress(ValueError, AttributeError):
        text = str(json.loads(text).get("message") or text)
    return _explain_text(text) or "no answer"


def _explain_text(text: object) -> str:
    return " ".join(str(text).split())


def _same_repository(name: str, reference: str) -> bool:
    """Whether two image names share a repository (a short name matches by suffix)."""
    found, wanted = repository(name), repository(reference)
    return found == wanted or found.endswith("/" + wanted)


def _names_match(tag: str, reference: str) -> bool:
    """Whether the tagged name ``tag`` is one ``reference`` removes: the same tag, or for a
    digest reference any tag of the same repository."""
    if "@" in reference:
        return _same_repository(tag, reference)
    wanted = reference if ":" in reference.rsplit("/", 1)[-1] else reference + ":latest"
    return tag == wanted or tag.endswith("/" + wanted)


def _has_healthcheck(attrs: Mapping[str, Any]) -> bool:
    test = (attrs.get("Config") or {}).get("Healthcheck", {}) or {}
    command = test.get("Test") or []
    return bool(command) and command[0] != "NONE"


def _manifest_digest(reference: str, attrs: Mapping[str, Any]) -> str | None:
    """The manifest digest podman stored for ``reference``'s repository (its RepoDigests).

    For ``repo@sha256:...`` that digest only when podman has it: otherwise the one podman
    has, so a caller comparing it with the pin sees what was really pulled."""
    digests = [str(entry) for entry in attrs.get("RepoDigests") or [] if "@" in str(entry)]
    ours = [entry.split("@", 1)[1] for entry in digests if _same_repository(entry, reference)]
    if "@" in reference and reference.split("@", 1)[1] in ours:
        return reference.split("@", 1)[1]
    if ours:
        return ours[0]
    return digests[0].split("@", 1)[1] if digests else None


def _is_open(fd: int) -> bool:
    """Whether ``fd`` is an open file descriptor (a daemon may run with stdin closed)."""
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy_window_size(source: int, target: int) -> None:
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)


def _run_on_pty(
    command: list[str], env: Mapping[str, str], lines: OutputLines, arm: Callable[[], None]
) -> None:
    """Run ``command`` on a new pseudo-terminal and proxy bytes between it and our own
    terminal (stdin in raw mode meanwhile), copying the output into ``lines``."""
    master, slave = os.openpty()
    _copy_window_size(0, slave)

    def controlling_terminal() -> None:
        # The pty becomes the child's terminal, so window size changes reach it as SIGWINCH.
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        process = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(env),
            start_new_session=True,
            # Only ioctl runs in the child; the job timer thread is started after this spawn.
            preexec_fn=controlling_terminal,
        )
    finally:
        os.close(slave)
    arm()
    saved = termios.tcgetattr(0)
    previous_handler: Any = None
    if threading.current_thread() is threading.main_thread():

        def resize(_signum: int, _frame: FrameType | None) -> None:
            _copy_window_size(0, master)

        previous_handler = signal.signal(signal.SIGWINCH, resize)
    try:
        tty.setraw(0)
        _proxy(master, lines)
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
        if previous_handler is not None:
            signal.signal(signal.SIGWINCH, previous_handler)
        os.close(master)
        process.wait()


def _proxy(master: int, lines: OutputLines) -> None:
    """Copy our stdin to ``master`` and ``master`` to our stdout until the pty closes."""
    sources = [0, master]
    while True:
        try:
            readable, _, _ = select.select(sources, [], [])
        except InterruptedError:
            continue
        if 0 in readable:
            data = os.read(0, 4096)
            if data:
                _write_all(master, data)
            else:
                sources.remove(0)
        if master in readable:
            try:
                data = os.read(master, 65536)
            except OSError as error:
                if error.errno == errno.EIO:
                    return
                raise
            if not data:
                return
            _write_all(1, data)
            lines.feed(data)
