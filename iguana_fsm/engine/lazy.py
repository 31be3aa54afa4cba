"""An engine that starts on first use: locate, fetch and a failed boot need no podman."""

from __future__ import annotations

from collections.abc import Mapping

from iguana_fsm.engine.base import (
    ContainerSpec,
    Engine,
    ImageInfo,
    JobResult,
    OutputSink,
    RemoteImage,
)
from iguana_fsm.workflow.model import Readiness


class StartOnUse:
    """Wraps an Engine; its ``start`` runs before the first call that needs the engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.started = False

    def _up(self) -> Engine:
        if not self.started:
            self._engine.start()
            self.started = True
        return self._engine

    def start(self) -> None:
        """Start now."""
        self._up()

    def stop(self) -> None:
        """Stop when started; nothing to do otherwise."""
        if self.started:
            self.started = False
            self._engine.stop()

    def pull(self, reference: str) -> ImageInfo:
        """See Engine.pull."""
        return self._up().pull(reference)

    def inspect_remote(self, reference: str) -> RemoteImage | None:
        """See Engine.inspect_remote."""
        return self._up().inspect_remote(reference)

    def remove_image(self, reference: str) -> None:
        """See Engine.remove_image."""
        self._up().remove_image(reference)

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        """See Engine.create_volume."""
        self._up().create_volume(name, labels)

    def remove_volume(self, name: str) -> None:
        """See Engine.remove_volume."""
        self._up().remove_volume(name)

    def start_service(
        self, spec: ContainerSpec, ready_timeout: float, ready: Readiness | None = None
    ) -> str:
        """See Engine.start_service."""
        return self._up().start_service(spec, ready_timeout, ready)

    def stop_container(self, container_id: str, grace: float | None = None) -> None:
        """See Engine.stop_container."""
        self._up().stop_container(container_id, grace)

    def run_job(
        self, spec: ContainerSpec, *, timeout: float | None, interactive: bool, output: OutputSink
    ) -> JobResult:
        """See Engine.run_job."""
        return self._up().run_job(spec, timeout=timeout, interactive=interactive, output=output)

    def remove_leftovers(self, run_id: str) -> list[str]:
        """See Engine.remove_leftovers."""
        return self._up().remove_leftovers(run_id)
