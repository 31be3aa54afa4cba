"""The ping that tells whether Iguana's podman service answers, and which podman it is.

libpod answers ``GET /_ping`` with its version in a header (``VERSION_HEADER``), so the boot
learns it without asking ``/version``, which costs podman a survey of the host (``rpm -q``,
``dpkg -S`` and a ``--version`` of each helper: about 0.5 s on a Debian host). Light: the
standard library only.
"""

from __future__ import annotations

import socket
from pathlib import Path

VERSION_HEADER = "Libpod-API-Version"
"""The header of libpod's answer to ``/_ping`` that carries its version (podman's own in 4.x)."""

HEAD_MAX = 4096
"""Bytes of an answer read at most: its status line and headers."""

UNKNOWN = "?"
"""The version of a service whose answer named none."""


def ping(socket_path: Path, timeout: float) -> str | None:
    """podman's version when the service on ``socket_path`` answers a ping with 200 within
    ``timeout`` seconds (``UNKNOWN`` when the answer names none); None when it does not."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
            head = read_head(sock)
    except OSError:
        return None
    if head.split(b" ")[1:2] != [b"200"]:
        return None
    return header(head, VERSION_HEADER) or UNKNOWN


def read_head(sock: socket.socket) -> bytes:
    """The status line and headers of an HTTP answer on ``sock`` (at most ``HEAD_MAX`` bytes)."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < HEAD_MAX:
        chunk = sock.recv(HEAD_MAX)
        if not chunk:
            break
        head += chunk
    return head


def header(head: bytes, name: str) -> str | None:
    """The value of header ``name`` (in any case) in an HTTP answer's ``head``, or None."""
    wanted = name.lower().encode()
    for line in head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, colon, value = line.partition(b":")
        if colon and key.strip().lower() == wanted:
            return value.strip().decode("ascii", "replace")
    return None
