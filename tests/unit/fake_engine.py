"""A container engine that runs nothing: it records calls and answers from a script.

Only for unit tests of the machine, runner and stages; every engine behaviour is also proven
against real podman in tests/integration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from iguana_fsm.engine.base import ContainerSpec, ImageInfo, JobResult, OutputSink, RemoteImage
from iguana_fsm.engine.images import same_repository
from iguana_fsm.errors import EngineError, PullError, SignatureRejected
from iguana_fsm.workflow.model import Readiness


@dataclass
class FakeEngine:
    """Job exit codes by image; ``pull_errors`` and ``signature_rejections`` by reference;
    ``calls`` in order.

    A pull of ``repo@sha256:X`` yields digest X, as podman does for an honest registry;
    ``served_digests`` makes a reference yield another digest (a registry serving other content).
    """

    exit_codes: dict[str, int] = field(default_factory=dict)
    timeouts: set[str] = field(default_factory=set)
    pull_errors: dict[str, str] = field(default_factory=dict)
    signature_rejections: dict[str, str] = field(default_factory=dict)
    served_digests: dict[str, str] = field(default_factory=dict)
    service_errors: dict[str, str] = field(default_factory=dict)
    stop_errors: dict[str, str] = field(default_factory=dict)
    """Errors of ``stop_container`` by the service's image."""
    leftover_error: str | None = None
    engine_stop_error: str | None = None
    outputs: dict[str, list[str]] = field(default_factory=dict)
    on_job: Callable[[ContainerSpec], None] | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    running: dict[str, ContainerSpec] = field(default_factory=dict)
    volumes: set[str] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    originals: dict[str, str] = field(default_factory=dict)
    started: int = 0
    stopped: int = 0
    job_timeouts: dict[str, float | None] = field(default_factory=dict)
    """The ``timeout`` each ``run_job`` was given, by the image's original reference."""
    readiness: dict[str, tuple[float, Readiness | None]] = field(default_factory=dict)
    """What each ``start_service`` was given, by container name."""
    graces: dict[str, float | None] = field(default_factory=dict)
    """The grace each ``stop_container`` was given, by container id."""
    remote: dict[str, RemoteImage] = field(default_factory=dict)
    """What the registry says of an image (by reference), for the pull plan; any other image
    is 1 MiB to download, 2 MiB unpacked, unless in ``unsized`` (the registry cannot say)."""
    unsized: set[str] = field(default_factory=set)
    sizes: dict[str, int] = field(default_factory=dict)
    """The size a pull measures (by the reference as written)."""
    read_only: dict[str, int] = field(default_factory=dict)
    """Images in a read-only store (the image device's), ``repo@sha256:...`` -> size."""

    def start(self) -> None:
        self.started += 1
        self.calls.append(("start", ""))

    def stop(self) -> None:
        self.stopped += 1
        self.calls.append(("stop", ""))
        if self.engine_stop_error is not None:
            raise EngineError(self.engine_stop_error)

    def pull(self, reference: str) -> ImageInfo:
        self.calls.append(("pull", reference))
        if reference in self.pull_errors:
            raise PullError(f"pull {reference}: {self.pull_errors[reference]}")
        if reference in self.signature_rejections:
            raise SignatureRejected(reference, self.signature_rejections[reference])
        original = self.originals.get(reference, reference)
        if reference in self.served_digests:
            digest = self.served_digests[reference]
        elif "@" in reference and reference == original:
            digest = reference.split("@", 1)[1]
        else:
            digest = "sha256:" + hashlib.sha256(original.encode()).hexdigest()
        info = ImageInfo(
            reference=original,
            image_id="id-" + original,
            digest=digest,
            size=self.sizes.get(original),
        )
        self.originals[info.pinned] = original
        self.images.add(info.pinned)
        return info

    def inspect_remote(self, reference: str) -> RemoteImage | None:
        if reference in self.unsized:
            return None
        small = RemoteImage(reference, "sha256:" + "0" * 64, 1024 * 1024, 2 * 1024 * 1024, 1)
        return self.remote.get(reference, small)

    def remove_image(self, reference: str) -> None:
        self.calls.append(("remove_image", reference))
        self.images.discard(reference)

    def read_only_images(self, reference: str) -> list[ImageInfo]:
        self.calls.append(("read_only_images", reference))
        return [
            ImageInfo(reference, "id-" + name, name.split("@", 1)[1], size)
            for name, size in self.read_only.items()
            if same_repository(name, reference)
        ]

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        self.calls.append(("create_volume", name))
        self.volumes.add(name)

    def remove_volume(self, name: str) -> None:
        self.calls.append(("remove_volume", name))
        self.volumes.discard(name)

    def start_service(
        self, spec: ContainerSpec, ready_timeout: float, ready: Readiness | None = None
    ) -> str:
        self.readiness[spec.name] = (ready_timeout, ready)
        self.calls.append(("start_service", spec.name))
        image = self.originals.get(spec.image, spec.image)
        if image in self.service_errors:
            raise EngineError(f"service {spec.name}: {self.service_errors[image]}")
        container_id = f"cid-{spec.name}"
        self.running[container_id] = spec
        return container_id

    def stop_container(self, container_id: str, grace: float | None = None) -> None:
        self.graces[container_id] = grace
        self.calls.append(("stop_container", container_id))
        spec = self.running.pop(container_id, None)
        image = self.originals.get(spec.image, spec.image) if spec is not None else ""
        if image in self.stop_errors:
            raise EngineError(f"stop {container_id}: {self.stop_errors[image]}")

    def run_job(
        self, spec: ContainerSpec, *, timeout: float | None, interactive: bool, output: OutputSink
    ) -> JobResult:
        self.calls.append(("run_job", spec.name))
        if self.on_job is not None:
            self.on_job(spec)
        image = self.originals.get(spec.image, spec.image)
        self.job_timeouts[image] = timeout
        lines = self.outputs.get(image, [])
        for line in lines:
            output(line)
        if image in self.timeouts:
            return JobResult(exit_code=137, timed_out=True, tail=tuple(lines))
        return JobResult(exit_code=self.exit_codes.get(image, 0), tail=tuple(lines))

    def remove_leftovers(self, run_id: str) -> list[str]:
        self.calls.append(("remove_leftovers", run_id))
        if self.leftover_error is not None:
            raise EngineError(self.leftover_error)
        removed = list(self.running)
        self.running.clear()
        return removed

    def names(self, call: str) -> list[str]:
        """The arguments of every call named ``call``, in order."""
        return [arg for name, arg in self.calls if name == call]
