"""PodmanEngine's own decisions that need no podman: which digest a pull reports, and how an
attach socket that fails is explained (the real service is in tests/integration)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from iguana_fsm.engine.podman import PodmanEngine, _manifest_digest
from iguana_fsm.errors import EngineError
from iguana_fsm.paths import Paths

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


class TestManifestDigest:
    def test_tag_gets_its_repositorys_digest(self) -> None:
        """A tag pull reports the digest podman stored for that repository, not another's."""
        attrs = {"RepoDigests": [f"other.example/x@{A}", f"reg.example/team/x@{B}"]}
        assert _manifest_digest("reg.example/team/x:1", attrs) == B

    def test_digest_reference_that_podman_has_is_kept(self) -> None:
        """A digest pull reports the pinned digest when podman stored it for the repository."""
        attrs = {"RepoDigests": [f"reg.example/x@{B}", f"reg.example/x@{A}"]}
        assert _manifest_digest(f"reg.example/x@{A}", attrs) == A

    def test_digest_reference_reports_what_podman_stored(self) -> None:
        """A digest pull whose image podman stored under another digest reports that one, so
        the pin check can fail."""
        attrs = {"RepoDigests": [f"other.example/x@{A}", f"reg.example/x@{C}"]}
        assert _manifest_digest(f"reg.example/x@{A}", attrs) == C

    def test_no_digest_at_all(self) -> None:
        """An image without RepoDigests has no digest to report."""
        assert _manifest_digest(f"reg.example/x@{A}", {"RepoDigests": []}) is None


class TestAttachSocket:
    def test_refused_connection_names_socket_and_job(self, tmp_path: Path) -> None:
        """A socket nobody accepts on is an EngineError naming the job, socket and container."""
        engine = PodmanEngine(Paths.for_sandbox(tmp_path), "unit")
        path = engine.service.socket_path
        path.parent.mkdir(parents=True)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as deaf:
            deaf.bind(str(path))
            attach = engine._attach_socket("cid1", stdin=False, what="run job j (img:1)")
            with pytest.raises(EngineError) as caught, attach:
                pass
        assert str(caught.value) == (
            f"run job j (img:1): attach socket {path} of container cid1: Connection refused"
        )

    def test_missing_socket_names_it(self, tmp_path: Path) -> None:
        """A service socket that is gone is an EngineError, not an internal error."""
        engine = PodmanEngine(Paths.for_sandbox(tmp_path), "unit")
        attach = engine._attach_socket("cid1", stdin=False, what="run job j (img:1)")
        refusal = r"^run job j \(img:1\): attach socket .*: No such"
        with pytest.raises(EngineError, match=refusal), attach:
            pass
