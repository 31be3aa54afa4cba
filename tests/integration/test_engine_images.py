"""PodmanEngine images against a real registry on 127.0.0.1: pull, digests, errors, removal."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from iguana_fsm.contract import container_spec
from iguana_fsm.engine.podman import PodmanEngine
from iguana_fsm.errors import EngineError, PullError
from iguana_fsm.paths import Paths
from tests.integration.conftest import ImageFactory
from tests.support.images import push_image, save_oci_archive
from tests.support.podman_cli import PodmanCli
from tests.support.registry import Registry

pytestmark = pytest.mark.integration

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


class Recorder:
    """A log that keeps each event as a dict (``event`` and its fields) in ``events``."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def __getattr__(self, level: str) -> Any:
        def keep(event: str, **fields: Any) -> None:
            self.events.append({"event": event, **fields})

        return keep


def published(
    engine_image: ImageFactory, engine_podman: PodmanCli, registry: Registry, script: str
) -> str:
    """Build an image with ``script`` and push it under a fresh name; return its reference."""
    local = engine_image(f"localhost/it/pub-{uuid.uuid4().hex[:8]}:1", script)
    remote = f"{registry.host}/it/{local.split('/')[-1]}"
    push_image(engine_podman, local, remote, tls_verify=False)
    engine_podman.run("rmi", local)
    return remote


def registry_digest(registry: Registry, reference: str) -> str:
    """The manifest digest the registry itself reports for ``reference``."""
    name, tag = reference.removeprefix(registry.host + "/").rsplit(":", 1)
    response = requests.head(
        f"{registry.url}/v2/{name}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}, timeout=10
    )
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"]


class TestPull:
    def test_pull_returns_id_and_the_registrys_manifest_digest(
        self,
        engine: PodmanEngine,
        engine_image: ImageFactory,
        engine_podman: PodmanCli,
        registry: Registry,
    ) -> None:
        """A pull gives the image id and the same manifest digest the registry serves."""
        reference = published(engine_image, engine_podman, registry, "echo pulled")
        info = engine.pull(reference)
        try:
            assert info.reference == reference
            assert info.digest == registry_digest(registry, reference)
            assert info.pinned == f"{reference.rsplit(':', 1)[0]}@{info.digest}"
            assert engine_podman.run("image", "inspect", "--format", "{{.Id}}", reference).stdout
            again = engine.pull(info.pinned)
            assert (again.image_id, again.digest) == (info.image_id, info.digest)
            stored = engine_podman.run(
                "image", "inspect", "--format", "{{json .RepoDigests}}", info.pinned
            ).stdout
            assert info.pinned in stored
        finally:
            engine.remove_image(info.image_id)

    def test_a_pull_nobody_sized_reads_the_manifest_for_its_total(
        self,
        engine: PodmanEngine,
        engine_paths: Paths,
        engine_image: ImageFactory,
        engine_podman: PodmanCli,
        registry: Registry,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A pull of an image this engine was never asked to size (a resumed boot's pull
        before a job, whose verify ran in the run that was killed) reads the registry's
        manifest first: its ``image.pulled`` event carries the download total, the config and
        the layers of the manifest that container storage does not hold yet."""
        reference = published(engine_image, engine_podman, registry, "echo sized")
        name, tag = reference.removeprefix(registry.host + "/").rsplit(":", 1)
        response = requests.get(
            f"{registry.url}/v2/{name}/manifests/{tag}",
            headers={"Accept": MANIFEST_TYPES},
            timeout=10,
        )
        response.raise_for_status()
        manifest = response.json()
        # podman downloads only the layers containers/storage does not list (by compressed digest)
        listing = json.loads((engine_paths.storage / "overlay-layers" / "layers.json").read_text())
        stored = {layer.get("compressed-diff-digest") for layer in listing}
        total = manifest["config"]["size"] + sum(
            layer["size"] for layer in manifest["layers"] if layer["digest"] not in stored
        )
        events: list[dict[str, Any]] = []
        monkeypatch.setattr(engine, "_log", Recorder(events))
        info = engine.pull(reference)
        try:
            (pulled,) = [event for event in events if event["event"] == "image.pulled"]
            assert pulled["download"] == total, (pulled, manifest)
            asked = [event for event in events if event["event"] == "image.size_unknown"]
            assert asked == []
        finally:
            engine.remove_image(info.image_id)

    def test_pull_of_a_missing_image_fails_with_podmans_words(
        self, engine: PodmanEngine, registry: Registry
    ) -> None:
        """Pulling a name the registry does not have raises PullError with podman's message."""
        reference = f"{registry.host}/it/does-not-exist:1"
        with pytest.raises(PullError) as caught:
            engine.pull(reference)
        message = str(caught.value)
        assert message.startswith(f"pull {reference}: ")
        assert "manifest unknown" in message
        assert "\n" not in message

    def test_pull_from_a_registry_that_is_not_there_fails(self, engine: PodmanEngine) -> None:
        """A pull from a port nobody listens on raises PullError naming the connection error."""
        from tests.support.registry import free_port

        reference = f"127.0.0.1:{free_port()}/it/nowhere:1"
        with pytest.raises(PullError, match="connection refused"):
            engine.pull(reference)


class TestRemoveImage:
    def test_removed_image_is_gone_and_removing_again_is_fine(
        self, engine: PodmanEngine, engine_image: ImageFactory, engine_podman: PodmanCli
    ) -> None:
        """remove_image of an image's only name frees it; a second removal is no error."""
        name = engine_image(f"localhost/it/gone-{uuid.uuid4().hex[:8]}:1", "true")
        image_id = engine_podman.run("image", "inspect", "--format", "{{.Id}}", name).stdout
        engine.remove_image(name)
        assert not engine_podman.exists("image", name)
        assert not engine_podman.exists("image", image_id.strip())
        engine.remove_image(name)

    def test_an_image_with_another_name_keeps_it(
        self, engine: PodmanEngine, engine_image: ImageFactory, engine_podman: PodmanCli
    ) -> None:
        """Removing one name leaves the image under its other name; the last name frees it."""
        name = engine_image(f"localhost/it/twice-{uuid.uuid4().hex[:8]}:1", "true")
        alias = name.replace("/twice-", "/alias-")
        engine_podman.run("tag", name, alias)
        engine.remove_image(name)
        assert not engine_podman.exists("image", name)
        assert engine_podman.exists("image", alias)
        engine.remove_image(alias)
        assert not engine_podman.exists("image", alias)

    @pytest.mark.parametrize("pull_pinned", [False, True], ids=["by-tag", "by-tag-and-digest"])
    def test_pinned_references_of_two_repositories_are_released_one_by_one(
        self,
        engine: PodmanEngine,
        engine_image: ImageFactory,
        engine_podman: PodmanCli,
        registry: Registry,
        pull_pinned: bool,
    ) -> None:
        """The same content pulled from two repositories stays for the second after the first
        repository's pinned reference is removed, and goes with the second."""
        first = published(engine_image, engine_podman, registry, "echo same content")
        second = f"{registry.host}/it/second-{uuid.uuid4().hex[:8]}:1"
        engine_podman.run(
            "pull", "--tls-verify=false", first
        )  # the content, to push it under the second repository
        push_image(engine_podman, first, second, tls_verify=False)
        engine_podman.run("rmi", first)
        one, two = engine.pull(first), engine.pull(second)
        assert one.image_id == two.image_id
        if pull_pinned:
            engine.pull(one.pinned)
            engine.pull(two.pinned)
        engine.remove_image(one.pinned)
        assert not engine_podman.exists("image", first)
        assert engine_podman.exists("image", two.pinned)
        assert engine_podman.exists("image", second)
        engine.remove_image(two.pinned)
        assert not engine_podman.exists("image", one.image_id)

    def test_image_in_use_is_not_removed(
        self,
        engine: PodmanEngine,
        engine_image: ImageFactory,
        engine_podman: PodmanCli,
        tmp_path: pytest.TempPathFactory,
    ) -> None:
        """An image a running service uses stays, and the error names that container."""
        name = engine_image(
            f"localhost/it/busy-{uuid.uuid4().hex[:8]}:1", "trap 'exit 0' TERM; sleep 600 & wait"
        )
        service = container_spec(
            "busy-service", name, {}, (), iguana_dir=tmp_path, run_id=engine.run_id
        )
        service_id = engine.start_service(service, 30)
        try:
            with pytest.raises(EngineError, match="still used by container busy-service"):
                engine.remove_image(name)
            assert engine_podman.exists("image", name)
        finally:
            engine.stop_container(service_id)
        engine.remove_image(name)
        assert not engine_podman.exists("image", name)


class TestOfflineArchive:
    def test_pull_from_an_archive_is_refused_with_podmans_words(
        self,
        engine: PodmanEngine,
        engine_image: ImageFactory,
        engine_podman: PodmanCli,
        tmp_path: Path,
    ) -> None:
        """The service pulls from registries only: an OCI archive is a PullError saying so,
        while the same archive runs with the podman CLI (how offline images get in)."""
        name = engine_image(f"localhost/it/offline-{uuid.uuid4().hex[:8]}:1", "echo from archive")
        archive = save_oci_archive(engine_podman, name, tmp_path / "image.tar")
        engine_podman.run("rmi", name)
        with pytest.raises(PullError, match="only docker transport is supported"):
            engine.pull(f"oci-archive:{archive}")
        ran = engine_podman.run("run", "--rm", "--rmi", f"oci-archive:{archive}")
        assert ran.stdout == "from archive\n"
        assert not engine_podman.exists("image", name)
