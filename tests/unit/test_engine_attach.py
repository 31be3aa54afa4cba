"""The attach protocol of podman's REST API as Iguana speaks it: frames, refusals and socket
errors (a real service answers in tests/integration/test_engine_containers.py)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from iguana_fsm.engine.attach import attach_socket, frames
from iguana_fsm.errors import EngineError


def _frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


class TestFrames:
    def test_complete_frames_are_taken_a_partial_one_stays(self) -> None:
        """Each complete frame comes out with its stream; a partial one waits for its bytes."""
        whole = _frame(1, b"out\n") + _frame(2, b"err\n")
        buffer = bytearray(whole + _frame(1, b"later")[:10])
        assert list(frames(buffer)) == [(1, b"out\n"), (2, b"err\n")]
        assert bytes(buffer) == _frame(1, b"later")[:10]


class TestAttachSocket:
    def test_refused_connection_names_socket_and_job(self, tmp_path: Path) -> None:
        """A socket nobody accepts on is an EngineError naming the job, socket and container."""
        path = tmp_path / "podman.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as deaf:
            deaf.bind(str(path))
            attach = attach_socket(path, "cid1", stdin=False, what="run job j (img:1)")
            with pytest.raises(EngineError) as caught, attach:
                pass
        assert str(caught.value) == (
            f"run job j (img:1): attach socket {path} of container cid1: Connection refused"
        )

    def test_missing_socket_names_it(self, tmp_path: Path) -> None:
        """A service socket that is gone is an EngineError, not an internal error."""
        attach = attach_socket(tmp_path / "gone.sock", "cid1", stdin=False, what="run job j")
        with pytest.raises(EngineError, match=r"^run job j: attach socket .*: No such"), attach:
            pass

    def test_error_answer_gives_podmans_message(self, tmp_path: Path) -> None:
        """An HTTP error answer to the attach becomes podman's JSON message on one line."""
        path = tmp_path / "podman.sock"
        body = b'{"cause":"x","message":"no container\\nwith id cid1","response":404}'
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(str(path))
            server.listen(1)

            def answer() -> None:
                peer, _ = server.accept()
                with peer:
                    peer.recv(65536)
                    peer.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n")
                    peer.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

            thread = threading.Thread(target=answer)
            thread.start()
            with (
                pytest.raises(EngineError) as caught,
                attach_socket(path, "cid1", stdin=False, what="run job j"),
            ):
                pass
            thread.join()
        assert str(caught.value) == "run job j: no container with id cid1"
