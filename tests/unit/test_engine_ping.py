"""The service's ping (engine/ping.py): an answer of 200 is a ready service, and its
``Libpod-API-Version`` header names podman's version; anything else is not ready."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from iguana_fsm.engine import ping


@pytest.fixture
def answering(tmp_path: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A unix socket that answers each connection with the next answer in the list, sent in
    pieces of 7 bytes (as a slow server would), after reading the request."""
    path = tmp_path / "s.sock"
    answers: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.recv(4096)
                answer = answers.pop(0)
                for start in range(0, len(answer), 7):
                    connection.sendall(answer[start : start + 7])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, answers
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(5)


def test_version_comes_from_libpods_header(answering: tuple[Path, list[bytes]]) -> None:
    """A 200 answer's Libpod-API-Version header (in any case) is the version."""
    path, answers = answering
    answers.append(
        b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nlibpod-api-version:  4.3.1 \r\n"
        b"Content-Length: 2\r\n\r\nOK"
    )
    assert ping.ping(path, 5) == "4.3.1"


def test_an_answer_without_the_header_is_ready_of_unknown_version(
    answering: tuple[Path, list[bytes]],
) -> None:
    """A 200 answer that names no libpod version still means ready; the version is unknown."""
    path, answers = answering
    answers.append(b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\n\r\nOK")
    assert ping.ping(path, 5) == ping.UNKNOWN


def test_an_error_status_or_no_listener_is_not_ready(
    answering: tuple[Path, list[bytes]], tmp_path: Path
) -> None:
    """An answer other than 200 is not ready, and neither is a socket nobody listens on; a
    header named only in the body does not count."""
    path, answers = answering
    answers.append(b"HTTP/1.1 500 Internal Server Error\r\nLibpod-API-Version: 4.3.1\r\n\r\n")
    assert ping.ping(path, 5) is None
    assert ping.ping(tmp_path / "nobody.sock", 5) is None
    assert ping.header(b"HTTP/1.1 200 OK\r\n\r\nLibpod-API-Version: 9", ping.VERSION_HEADER) is None
