"""How the podman engine reads the image names podman reports (RepoTags, RepoDigests) against
the names Iguana asked for; the real podman is in tests/integration/test_engine_images.py."""

from __future__ import annotations

from iguana_fsm.engine.base import ImageInfo
from iguana_fsm.engine.images import manifest_digest, names_match, same_repository

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


class TestManifestDigest:
    def test_tag_gets_its_repositorys_digest(self) -> None:
        """A tag pull reports the digest podman stored for that repository, not another's."""
        attrs = {"RepoDigests": [f"other.example/x@{A}", f"reg.example/team/x@{B}"]}
        assert manifest_digest("reg.example/team/x:1", attrs) == B

    def test_digest_reference_that_podman_has_is_kept(self) -> None:
        """A digest pull reports the pinned digest when podman stored it for the repository."""
        attrs = {"RepoDigests": [f"reg.example/x@{B}", f"reg.example/x@{A}"]}
        assert manifest_digest(f"reg.example/x@{A}", attrs) == A

    def test_digest_reference_reports_what_podman_stored(self) -> None:
        """A digest pull whose image podman stored under another digest reports that one, so
        the pin check can fail."""
        attrs = {"RepoDigests": [f"other.example/x@{A}", f"reg.example/x@{C}"]}
        assert manifest_digest(f"reg.example/x@{A}", attrs) == C

    def test_no_digest_at_all(self) -> None:
        """An image without RepoDigests has no digest to report."""
        assert manifest_digest(f"reg.example/x@{A}", {"RepoDigests": []}) is None

    def test_registry_with_port_is_not_a_tag(self) -> None:
        """A registry port is part of the repository, not a tag: 127.0.0.1:5000/x is its own."""
        attrs = {"RepoDigests": [f"127.0.0.1:5001/x@{A}", f"127.0.0.1:5000/x@{B}"]}
        assert manifest_digest("127.0.0.1:5000/x", attrs) == B


class TestNames:
    def test_short_name_matches_its_resolved_repository(self) -> None:
        """A short name (no registry) is the repository podman resolved it to, by path."""
        assert same_repository("docker.io/library/busybox:1", "library/busybox")
        assert not same_repository("docker.io/library/busybox", "reg.example/library/busybox")

    def test_path_suffix_must_be_whole_components(self) -> None:
        """A short name matches whole path components only: x is not in reg.example/ax."""
        assert not same_repository("reg.example/ax:1", "x")

    def test_untagged_name_means_latest(self) -> None:
        """A name without tag or digest removes the ``latest`` tag and no other."""
        assert names_match("localhost/x:latest", "localhost/x")
        assert not names_match("localhost/x:1", "localhost/x")

    def test_digest_reference_removes_every_tag_of_its_repository(self) -> None:
        """A digest name stands for its repository: every tag of it goes, no other's."""
        assert names_match("reg.example/x:1", f"reg.example/x@{A}")
        assert not names_match("reg.example/y:1", f"reg.example/x@{A}")

    def test_name_that_is_no_reference_matches_nothing(self) -> None:
        """A name outside the reference grammar (podman's <none>) matches no reference."""
        assert not names_match("<none>:<none>", "localhost/x")
        assert manifest_digest("x", {"RepoDigests": ["<none>@<none>"]}) is None

    def test_pinned_keeps_the_registry_port(self) -> None:
        """The pinned form replaces tag and digest with the pulled digest, keeping the port."""
        info = ImageInfo(f"127.0.0.1:5000/team/x:1@{B}", "id", A)
        assert info.pinned == f"127.0.0.1:5000/team/x@{A}"
