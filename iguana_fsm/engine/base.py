"""The contract between the boot stages and a container engine.

A ``ContainerSpec`` is complete: the engine translates it for its runtime and adds nothing of
its own. What every container Iguana starts gets (privileged, host network, ``/dev``,
``/iguana``, ``IGUANA=true``, the run label) is decided once, in ``iguana_fsm/contract.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from iguana_fsm.workflow.model import Readiness, Volume
from iguana_fsm.workflow.reference import parse_reference

TAIL_LINES = 20
"""How many last lines of a job's output JobResult.tail keeps (and the failure banner shows)."""

RUN_LABEL = "iguana.run"
"""Every container and volume carries the run id in this label, so leftovers can be found."""


@dataclass(frozen=True)
class ContainerSpec:
    """A container exactly as the engine must start it (``contract.container_spec`` builds
    the ones Iguana starts).

    ``volumes``: everything mounted into it, in order: host paths (bind-mounted, recursively),
    named volumes and anonymous ones (no source). ``labels`` go on the container as they are.
    """

    name: str
    image: str
    env: Mapping[str, str]
    volumes: tuple[Volume, ...]
    labels: Mapping[str, str]
    privileged: bool
    host_network: bool


@dataclass(frozen=True)
class ImageInfo:
    """A pulled image: the reference asked for, its id, its manifest digest and its size in
    container storage (bytes, when the engine says)."""

    reference: str
    image_id: str
    digest: str | None
    size: int | None = None

    @property
    def pinned(self) -> str:
        """``repo@sha256:...`` when the digest is known, else the reference as given."""
        if self.digest is None:
            return self.reference
        return f"{parse_reference(self.reference).repository}@{self.digest}"


@dataclass(frozen=True)
class RemoteImage:
    """An image as its registry describes it (``engine/remote.py``): ``download`` the bytes of
    its layers and config, ``unpacked`` an estimate of its size in container storage;
    ``layer_sizes`` each layer's digest and size as the manifest gives them, ``config_size``
    its config's (a pull's total: ``engine/pullmeter.py``)."""

    reference: str
    digest: str
    download: int
    unpacked: int
    layers: int
    layer_sizes: tuple[tuple[str, int], ...] = ()
    config_size: int = 0


@dataclass(frozen=True)
class JobResult:
    """How a job container ended; ``tail`` holds its last lines of output."""

    exit_code: int
    timed_out: bool = False
    tail: tuple[str, ...] = ()
    peak_memory: int | None = None
    """The container's peak memory in bytes (its cgroup's high-water mark), when known."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Seconds of the container's phases: ``create``, ``run`` (start to exit), ``remove``."""


OutputSink = Callable[[str], None]


class Engine(Protocol):
    """What the stages need from a container engine. Errors are EngineError or PullError."""

    def start(self) -> None:
        """Bring the engine up (for podman: start the private ``podman system service``)."""

    def stop(self) -> None:
        """Stop the engine and everything it started; safe to call twice."""

    def pull(self, reference: str) -> ImageInfo:
        """Pull an image (signature policy enforced by the engine); SignatureRejected when
        that policy refuses it, PullError with the engine's words for anything else."""

    def inspect_remote(self, reference: str) -> RemoteImage | None:
        """Digest and sizes of an image from its registry, before any layer is downloaded;
        None when the registry cannot say (a pull measures the image then)."""

    def remove_image(self, reference: str) -> None:
        """Remove an image to give its RAM back; a missing image is not an error."""

    def read_only_images(self, reference: str) -> list[ImageInfo]:
        """The images of ``reference``'s repository in the engine's read-only stores (the
        image device's store, used in place), each with its manifest digest: the pin of
        ``reference`` when the image has it."""

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        """Create a named volume with exactly ``labels`` (an existing one is reused)."""

    def remove_volume(self, name: str) -> None:
        """Remove a named volume; a missing one is not an error."""

    def start_service(
        self, spec: ContainerSpec, ready_timeout: float, ready: Readiness | None = None
    ) -> str:
        """Start a detached container, wait until it is ready (``ready``'s rule, else its
        health check, else it keeps running) within ``ready_timeout`` s, return its id."""

    def stop_container(self, container_id: str, grace: float | None = None) -> None:
        """Stop (SIGTERM, SIGKILL ``grace`` seconds later) and remove a container by id; a
        missing one is not an error."""

    def run_job(
        self,
        spec: ContainerSpec,
        *,
        timeout: float | None,
        interactive: bool,
        output: OutputSink,
    ) -> JobResult:
        """Run a container to its end: attached to the console when ``interactive``; every
        line of output goes to ``output``. Stops it after ``timeout`` seconds. The container
        is removed, possibly while the next job starts: at the latest before the engine
        removes an image, a volume or leftovers, or stops."""

    def remove_leftovers(self, run_id: str) -> list[str]:
        """Remove containers and volumes labelled with ``run_id``; return what was removed."""
