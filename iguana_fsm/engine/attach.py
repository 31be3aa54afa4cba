"""The attach protocol of podman's REST API, spoken on the service's unix socket.

podman-py has no attach. ``attach_socket`` opens ``POST /containers/{id}/attach`` before the
container starts and upgrades the connection; ``pump`` then moves bytes until the container
ends: its output arrives as frames (an 8-byte header: stream 1 stdout or 2 stderr, three zero
bytes, a big-endian size; then the bytes), and our stdin goes the other way with EOF passed on
as a half-close.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from iguana_fsm.engine.output import OutputLines, one_line
from iguana_fsm.errors import EngineError

API_VERSION = "v4.0.0"

_UNREAD_STDIN = re.compile(
    rb"Error: (read|write) unixpacket \S*/attach: \w+: (connection reset by peer|broken pipe)"
)
"""What the service writes into stderr when a job ends without reading all the stdin we passed
on: podman's note about its copy, not the job's output."""


@contextlib.contextmanager
def attach_socket(
    path: Path, container_id: str, *, stdin: bool, what: str
) -> Iterator[tuple[socket.socket, bytes]]:
    """Attach to the container through the service at ``path`` before it starts; yields the
    upgraded (non-blocking) socket and the bytes already read. A refusal is an EngineError
    ``what: podman's message``; a socket error (refused, timed out, reset) one naming the
    socket and the container."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(str(path))
            sock.sendall(
                f"POST /{API_VERSION}/libpod/containers/{container_id}/attach"
                f"?stream=true&stdout=true&stderr=true&stdin={str(stdin).lower()} HTTP/1.1\r\n"
                "Host: podman\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            head, rest = read_response_head(sock)
            status = head.split(b" ", 2)[1:2]
            if status not in ([b"101"], [b"200"]):
                body = rest
                with contextlib.suppress(OSError):
                    sock.settimeout(2)
                    body = body or sock.recv(65536)
                raise EngineError(f"{what}: {error_message(body)}")
            sock.setblocking(False)
            yield sock, rest
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise EngineError(
            f"{what}: attach socket {path} of container {container_id}: {reason}"
        ) from error


def read_response_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """An HTTP response's status line and headers, and whatever came after them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > 65536:
            raise EngineError(f"the podman service answered an attach with {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def frames(buffer: bytearray) -> Iterator[tuple[int, bytes]]:
    """Take the complete frames of an attach stream without a terminal out of ``buffer``."""
    while len(buffer) >= 8:
        size = int.from_bytes(buffer[4:8], "big")
        if len(buffer) < 8 + size:
            return
        stream, payload = buffer[0], bytes(buffer[8 : 8 + size])
        del buffer[: 8 + size]
        yield stream, payload


def error_message(body: bytes) -> str:
    """The ``message`` of a JSON error answer from the service, else the body, on one line."""
    text = body.decode(errors="replace")
    with contextlib.suppress(ValueError, AttributeError):
        text = str(json.loads(text).get("message") or text)
    return one_line(text) or "no answer"


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def is_open(fd: int) -> bool:
    """Whether ``fd`` is an open file descriptor (a daemon may run with stdin closed)."""
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def pump(
    sock: socket.socket, pending: bytes, lines: OutputLines, *, stdin: bool, echo: bool
) -> None:
    """Until the container ends: its output from the attach socket to ``lines`` (and to our
    stdout when ``echo``), and with ``stdin`` our stdin to it, EOF passed on as a half-close.
    Our stdin is read only when the socket can take it, so neither side can block the other."""
    received = bytearray(pending)
    outgoing = b""
    reading_stdin = stdin
    while True:
        for stream, payload in frames(received):
            if stream == 2 and _UNREAD_STDIN.match(payload):
                continue
            if echo:
                write_all(1, payload)
            lines.feed(payload)
        readers: list[Any] = [sock] + ([0] if reading_stdin and not outgoing else [])
        writers = [sock] if outgoing else []
        try:
            readable, writable, _ = select.select(readers, writers, [])
        except InterruptedError:
            continue
        if 0 in readable:
            outgoing, reading_stdin = _read_stdin(sock)
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


def _read_stdin(sock: socket.socket) -> tuple[bytes, bool]:
    """Our next stdin bytes and whether to keep reading; at EOF the socket is half-closed."""
    try:
        data = os.read(0, 65536)
    except OSError:
        data = b""
    if data:
        return data, True
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    return b"", False
