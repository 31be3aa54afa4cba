"""An engine that starts on first use, or in the background while the boot does what needs no
engine (locate, fetch, the checks of verify, the registry's answers about image sizes): the
first call that needs it waits for the start to finish and raises its error, if any."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from iguana_fsm.engine.base import (
    ContainerSpec,
    Engine,
    ImageInfo,
    JobResult,
    OutputSink,
    RemoteImage,
)
from iguana_fsm.workflow.model import Readiness

StartTimes = Callable[[float, float], None]
"""Told, once the engine is up, the seconds its start took and those a caller waited for it."""


class StartOnUse:
    """Wraps an Engine; its ``start`` runs before the first call that needs the engine, or
    in a thread of its own from ``start_soon`` on."""

    def __init__(self, engine: Engine, on_started: StartTimes | None = None) -> None:
        self._engine = engine
        self._on_started = on_started
        self.started = False
        self._starting: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._took = 0.0

    def start_soon(self) -> None:
        """Begin the start in the background; the first call that needs the engine joins it."""
        if self.started or self._starting is not None:
            return
        self._starting = threading.Thread(target=self._start, name="engine-start", daemon=True)
        self._starting.start()

    def _start(self) -> None:
        began = time.monotonic()
        try:
            self._engine.start()
        except BaseException as error:  # handed to the thread that needs the engine
            self._failure = error
        self._took = self._start_seconds(time.monotonic() - began)

    def _start_seconds(self, measured: float) -> float:
        """The start's seconds as the engine counts them (from its service's spawn, which may
        have come before this wrapper began it), else as measured here."""
        counted = getattr(self._engine, "start_seconds", None)
        return counted if isinstance(counted, float) else measured

    def _join(self) -> None:
        """Wait for a background start; its error, raised here (the engine cleaned up)."""
        thread, self._starting = self._starting, None
        if thread is None:
            return
        began = time.monotonic()
        thread.join()
        waited = time.monotonic() - began
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure
        self.started = True
        if self._on_started is not None:
            self._on_started(self._took, waited)

    def _up(self) -> Engine:
        self._join()
        if not self.started:
            began = time.monotonic()
            self._engine.start()
            self.started = True
            waited = time.monotonic() - began
            if self._on_started is not None:
                self._on_started(self._start_seconds(waited), waited)
        return self._engine

    def start(self) -> None:
        """Start now (or wait for the start under way)."""
        self._up()

    def stop(self) -> None:
        """Stop when started or starting (after that start has ended); nothing otherwise."""
        thread, self._starting = self._starting, None
        if thread is not None:
            thread.join()
            self._failure = None
            self.started = True  # a failed start cleaned up; stopping again does no harm
        if self.started:
            self.started = False
            self._engine.stop()

    def pull(self, reference: str) -> ImageInfo:
        """See Engine.pull."""
        return self._up().pull(reference)

    def inspect_remote(self, reference: str) -> RemoteImage | None:
        """See Engine.inspect_remote: it asks the registry, not the engine's service, so it
        runs while the start is still under way instead of waiting for it."""
        return self._engine.inspect_remote(reference)

    def remove_image(self, reference: str) -> None:
        """See Engine.remove_image."""
        self._up().remove_image(reference)

    def read_only_images(self, reference: str) -> list[ImageInfo]:
        """See Engine.read_only_images."""
        return self._up().read_only_images(reference)

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
