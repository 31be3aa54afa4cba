"""The Engine on real podman: podman-py talking to Iguana's own ``podman system service``.

The only module that imports podman-py. What it leaves to others: the container body
(``libpod.py``), the comparison of image names (``images.py``), the attach protocol of the REST
API (``attach.py``), the terminal proxy for a job on a console (``terminal.py``) and how a job's
end is waited for and its container removed (``ending.py``). It is about 125 lines over the
house's 450: it stays the one module that calls podman-py.

A job on a terminal console is attached with ``podman --url SOCKET start --attach --interactive``
for that one step, so the podman client does the terminal work (raw mode, resizes). Every other
job talks to the service's attach endpoint directly, opened before the job starts.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import podman
import podman.errors
import requests
import structlog

from iguana_fsm.engine import attach, base, ending, images, readiness, refusals, remote
from iguana_fsm.engine.api import PodmanApiProcess
from iguana_fsm.engine.base import RUN_LABEL, ContainerSpec, ImageInfo, JobResult, OutputSink
from iguana_fsm.engine.libpod import UNCHECKED, container_body, has_healthcheck, whole_seconds
from iguana_fsm.engine.mirror import Mirror
from iguana_fsm.engine.output import OutputLines, one_line
from iguana_fsm.engine.pullmeter import PullMeter, PullTotals
from iguana_fsm.engine.storageconf import graphroot_of
from iguana_fsm.engine.terminal import run_on_pty
from iguana_fsm.engine.watch import JobTimer, PeakSampler
from iguana_fsm.errors import EngineError, PullError, SignatureRejected
from iguana_fsm.paths import Paths
from iguana_fsm.workflow.model import Readiness


def _explain(error: BaseException) -> str:
    """podman's own words from a podman-py or requests error, on one line."""
    return one_line(getattr(error, "explanation", None) or str(error) or type(error).__name__)


@contextlib.contextmanager
def _engine_errors(what: str) -> Iterator[None]:
    """Turn podman-py and connection errors into an EngineError naming ``what``."""
    try:
        yield
    except EngineError:
        raise
    except (podman.errors.PodmanError, requests.RequestException) as error:
        raise EngineError(f"{what}: {_explain(error)}") from error


def _pull_error(reference: str, words: str) -> PullError | SignatureRejected:
    """The error for a failed pull of ``reference`` that podman explained with ``words``."""
    if refusals.is_signature_rejection(words):
        return SignatureRejected(reference, refusals.reason(words))
    return PullError(f"pull {reference}: {words}")


class PodmanEngine:
    """The Engine protocol on podman. ``start`` launches the private API process (``api``);
    ``env_overlay`` reaches podman (e.g. HOME for trust config); ``run_id`` names the boot in
    the engine's log (the run label is the spec's, see ``contract.py``).

    ``api_ready_timeout``: how long the API process may take to answer;
    ``stop_grace``: seconds between SIGTERM and SIGKILL when a container is stopped;
    ``service_settle``: how long a service without a health check must keep running to count
    as started (one that dies at once is an error, not a running service);
    ``api``: a service spawned already for this boot (``bootstart.head_start``), whose start
    ``start`` then only waits for."""

    def __init__(
        self,
        paths: Paths,
        run_id: str,
        *,
        env_overlay: Mapping[str, str] | None = None,
        log: Any = None,
        stop_grace: float = 10.0,
        api_ready_timeout: float = 30.0,
        service_settle: float = 0.3,
        api: PodmanApiProcess | None = None,
    ) -> None:
        self.paths = paths
        self.run_id = run_id
        self.stop_grace = stop_grace
        self.service_settle = service_settle
        self._log = log if log is not None else structlog.get_logger("iguana.engine")
        if api is None:
            api = PodmanApiProcess(
                paths, env=env_overlay, ready_timeout=api_ready_timeout, log=self._log
            )
        else:
            api.attach_log(self._log)
        self.api = api
        self._client: Any = None
        self._containers: set[str] = set()
        self._ended: set[str] = set()
        """Containers whose end was seen: conmon may still be cleaning up after them."""
        self._removals = ending.Removals(self._remove_ended)
        self._remover: Any = None
        # storage.conf names the storage's directory: asking the service would survey the host
        graphroot = paths.storage or graphroot_of(api.environment)
        self._totals = PullTotals(graphroot, self._graphroot)
        # the image device's registry, started before the first registry is asked anything
        self._mirror = Mirror(paths.run, self._log)
        self.start_seconds: float | None = None
        """Seconds from the service's spawn until it answered us, once started."""

    @property
    def client(self) -> Any:
        """The podman-py client; EngineError before ``start``."""
        if self._client is None:
            raise EngineError("the podman engine is not started")
        return self._client

    def start(self) -> None:
        """Start the private podman service and connect to it."""
        began = time.monotonic()
        self.api.start()
        try:
            with _engine_errors(f"podman service at {self.api.url}"):
                self._client = podman.PodmanClient(base_url=self.api.url)
                # the removals' own, for their thread
                self._remover = podman.PodmanClient(base_url=self.api.url)
                # from the ping's answer: a /version request would survey the host (api.py)
                version = self.api.version
        except BaseException:
            self.stop()
            raise
        # from the spawn, which may have come long before (bootstart.head_start)
        self.start_seconds = time.monotonic() - min(began, self.api.spawned_at or began)
        self._log.info(
            "engine.started",
            run=self.run_id,
            socket=str(self.api.socket_path),
            podman=version,
            seconds=round(self.start_seconds, 3),
        )

    def stop(self) -> None:
        """Remove the containers this engine still has, then stop the service; idempotent."""
        if self._client is not None:
            self.finish_removals()
            for container_id in sorted(self._containers):
                with contextlib.suppress(EngineError):
                    self._discard(container_id)
            self._client.close()
            if self._remover is not None:  # None when start failed before it was made
                self._remover.close()
            self._client = self._remover = None
        ending.settle(self._ended, self.stop_grace)
        # Also when podman died on its own: its pid file, socket, log and mounts stay otherwise.
        was_running = self.api.running
        self.api.stop()
        if was_running:
            self._log.info("engine.stopped")

    def finish_removals(self) -> None:
        """Return once the ended jobs' containers are removed (``ending.Removals``)."""
        self._removals.drain()

    def pull(self, reference: str) -> ImageInfo:
        """Pull ``reference``; any error the service reports, even inside the stream, raises
        SignatureRejected when the signature policy refused the image, else PullError with
        podman's words. The digest is the manifest digest of the repository."""
        image_id: str | None = None
        self._mirror.ensure()
        if not self._totals.asked(reference):
            self.inspect_remote(reference)  # the meter's total
        total = self._totals.total(reference)  # before the pull stores a layer
        try:
            # tls_verify=None leaves TLS to registries.conf: podman-py would force it on.
            stream = self.client.images.pull(
                reference, stream=True, decode=True, compatMode=False, tls_verify=None
            )
            meter = PullMeter(self.api.pid_path, reference, self._log, total=total)
            for item in meter.follow(stream):
                if item.get("error"):
                    raise _pull_error(reference, one_line(item["error"]))
                image_id = item.get("id") or image_id
        except (podman.errors.PodmanError, requests.RequestException) as error:
            raise _pull_error(reference, _explain(error)) from error
        if image_id is None:
            raise PullError(f"pull {reference}: podman reported no image")
        with _engine_errors(f"inspect {reference}"):
            attrs = self.client.images.get(image_id).attrs
        digest, size = images.manifest_digest(reference, attrs), attrs.get("Size")
        info = ImageInfo(reference, image_id, digest, size if isinstance(size, int) else None)
        self._log.info(
            "image.pulled", image=reference, id=image_id, digest=digest, size=size, download=total
        )
        return info

    def inspect_remote(self, reference: str) -> base.RemoteImage | None:
        """What the registry says of ``reference`` (as podman reaches it); None: it cannot."""
        self._mirror.ensure()
        try:
            found = remote.inspect_remote(reference, self.api.environment)
        except remote.RemoteUnknown as error:
            self._log.info("image.size_unknown", image=reference, reason=str(error))
            self._totals.remember(reference, None)
            return None
        self._totals.remember(reference, found)
        return found

    def _graphroot(self) -> str | None:
        """Container storage's directory, as the service says."""
        with contextlib.suppress(
            podman.errors.PodmanError, requests.RequestException, KeyError, TypeError
        ):
            return str(self.client.info()["store"]["graphRoot"])
        return None

    def remove_image(self, reference: str) -> None:
        """Remove the name ``reference`` (for ``repo@sha256:...``: every name of that
        repository); the image itself, and its layers, go with its last name. Missing is fine;
        EngineError while a container still uses an image that would go."""
        self.finish_removals()  # the last job's container may still use it
        try:
            image = self.client.images.get(reference)
        except (podman.errors.NotFound, podman.errors.ImageNotFound):
            return
        except (podman.errors.PodmanError, requests.RequestException) as error:
            raise EngineError(f"remove image {reference}: {_explain(error)}") from error
        tags = [str(name) for name in image.attrs.get("RepoTags") or []]
        digests = [str(name) for name in image.attrs.get("RepoDigests") or []]
        ours = [tag for tag in tags if images.names_match(tag, reference)]
        others = [tag for tag in tags if tag not in ours]
        # A digest name belongs to its repository; it stays only for another repository.
        others += [name for name in digests if not images.same_repository(name, reference)]
        with _engine_errors(f"remove image {reference}"):
            if others:
                # Another repository or tag still names this image: only our names go.
                for name in ours:
                    self.client.images.remove(name)
                # podman finds an image by digest under any repository: drop our digest name
                # only while it is still one of the image's names, or the image itself goes.
                digests = self.client.images.get(image.id).attrs.get("RepoDigests") or []
                if images.is_digest_reference(reference) and reference in digests:
                    self.client.images.remove(reference)
                self._log.info("image.untagged", image=reference, id=image.id, kept=others)
                return
            users = self.client.containers.list(all=True, filters={"ancestor": image.id})
            if users:
                raise EngineError(
                    f"remove image {reference}: still used by container {users[0].name}"
                )
            # By id: every name of ours goes at once and the layers leave the (RAM) storage.
            self.client.images.remove(image.id, force=True)
        # The stage logs the removal with its job; this line is for debugging the engine.
        self._log.debug("image.removed", image=reference, id=image.id)

    def read_only_images(self, reference: str) -> list[ImageInfo]:
        """The images in podman's read-only (additional) stores named in ``reference``'s
        repository; podman marks them ``ReadOnly`` in its image list."""
        with _engine_errors(f"list the read-only images for {reference}"):
            listed = self.client.images.list(filters={"readonly": "true"})
        found: list[ImageInfo] = []
        for image in listed:
            attrs = image.attrs
            names = [str(name) for name in (attrs.get("RepoTags") or [])]
            names += [str(name) for name in (attrs.get("RepoDigests") or [])]
            if attrs.get("ReadOnly") is not True or not any(
                images.same_repository(name, reference) for name in names
            ):
                continue
            size = attrs.get("Size")
            digest = images.manifest_digest(reference, attrs)
            found.append(
                ImageInfo(reference, image.id, digest, size if isinstance(size, int) else None)
            )
        return found

    def create_volume(self, name: str, labels: Mapping[str, str]) -> None:
        """Create the named volume with ``labels``; reuse an existing one."""
        with _engine_errors(f"create volume {name}"):
            if self.client.volumes.exists(name):
                return
            self.client.volumes.create(name, labels=dict(labels))
        # The stage logs the creation with its job; this line is for debugging the engine.
        self._log.debug("volume.created", volume=name)

    def remove_volume(self, name: str) -> None:
        """Remove the named volume; missing is fine."""
        self.finish_removals()  # the last job's container may still use it
        with _engine_errors(f"remove volume {name}"):
            try:
                self.client.volumes.remove(name)
            except podman.errors.NotFound:
                return
        self._log.info("volume.removed", volume=name)

    def start_service(
        self, spec: ContainerSpec, ready_timeout: float, ready: Readiness | None = None
    ) -> str:
        """Start ``spec`` detached; wait until it meets ``ready``'s rule, else until its image's
        health check passes, else until it keeps running. EngineError (container removed) when
        it exits or is not ready in ``ready_timeout`` seconds."""
        container = self._create(spec, terminal=False, stdin=False)
        try:
            with _engine_errors(f"start service {spec.name} ({spec.image})"):
                container.start()
                health = self._wait_ready(container, spec, ready_timeout, ready or Readiness())
        except BaseException:
            with contextlib.suppress(EngineError):
                self._discard(container.id)
            raise
        self._log.info(
            "service.ready", service=spec.name, image=spec.image, id=container.id, health=health
        )
        return str(container.id)

    def _wait_ready(
        self, container: Any, spec: ContainerSpec, ready_timeout: float, ready: Readiness
    ) -> str:
        """Poll the container's state (and its rule, or its health check) until ready; return
        the rule met, the health status or ``none``."""
        deadline = time.monotonic() + ready_timeout
        health = "none"
        running_since: float | None = None
        while True:
            container.reload()
            state = container.attrs["State"]
            if not state.get("Running") and state.get("Status") not in ("created", "configured"):
                code = state.get("ExitCode")
                raise EngineError(
                    f"service {spec.name} ({spec.image}) exited with code {code} before it was "
                    f"ready: {self._last_lines(container)}"
                )
            if state.get("Running") and ready.rule is not None:
                if self._while_running(container, lambda: readiness.met(container, ready)):
                    return ready.rule
                health = f"{ready.rule} not met"
            elif state.get("Running") and not has_healthcheck(container.attrs):
                # Without a health check, "up" means it kept running for a moment.
                now = time.monotonic()
                running_since = running_since or now
                if now - running_since >= min(self.service_settle, ready_timeout):
                    self._log.warning("service.unchecked", service=spec.name, why=UNCHECKED)
                    return health
            elif state.get("Running"):
                # The service runs the check on request: no systemd timer is needed for it.
                response = self.client.api.get(f"/containers/{container.id}/healthcheck")
                if self._while_running(container, functools.partial(_answered, response)):
                    health = str(response.json().get("Status", "unknown"))
                    if health == "healthy":
                        return health
            if time.monotonic() > deadline:
                what = readiness.unready(health, ready)
                raise EngineError(
                    f"service {spec.name} ({spec.image}) not ready after {ready_timeout:g}s: {what}"
                )
            time.sleep(0.25 if health != "none" else 0.05)

    @staticmethod
    def _while_running(container: Any, look: Callable[[], Any]) -> Any:
        """``look()`` at a service; None when it failed because the service stopped meanwhile
        (podman 4.3 answers 409 or 500 "container state improper" to a health check or exec
        on a stopped container): the next poll then reports how it ended."""
        try:
            return look()
        except (podman.errors.APIError, requests.HTTPError):
            container.reload()
            if container.attrs["State"].get("Running"):
                raise
            return None

    def _last_lines(self, container: Any, count: int = 3) -> str:
        try:
            raw = b"".join(container.logs(tail=count, stdout=True, stderr=True))
        except (podman.errors.PodmanError, requests.RequestException):
            return "no output"
        text = " | ".join(line for line in raw.decode(errors="replace").splitlines() if line)
        return text or "no output"

    def stop_container(self, container_id: str, grace: float | None = None) -> None:
        """Stop (SIGTERM, SIGKILL after ``grace``, else ``stop_grace``) and remove by id."""
        self._discard(container_id, grace)
        self._log.info("container.removed", id=container_id)

    def _discard(self, container_id: str, grace: float | None = None) -> None:
        """Remove a container, stopped first when it runs."""
        with _engine_errors(f"remove container {container_id[:12]}"):
            try:
                container = self.client.containers.get(container_id)
                if container.status in ("running", "paused"):
                    container.stop(timeout=whole_seconds(grace or self.stop_grace))
                self.client.containers.remove(container_id, force=True, v=True)
            except podman.errors.NotFound:
                pass
        self._containers.discard(container_id)

    def _remove_ended(self, container_id: str) -> None:
        """Remove a job's container that has ended, in one request (the removals' thread, on
        its own client); a failure is logged, and ``stop`` tries again."""
        what = f"remove container {container_id[:12]}"
        try:
            with _engine_errors(what), contextlib.suppress(podman.errors.NotFound):
                self._remover.containers.remove(container_id, force=True, v=True)
        except EngineError as error:
            self._log.warning("container.remove_failed", id=container_id, error=str(error))
            return
        self._containers.discard(container_id)

    def _create(self, spec: ContainerSpec, *, terminal: bool, stdin: bool) -> Any:
        body = container_body(spec, terminal=terminal, stdin=stdin)
        with _engine_errors(f"create container {spec.name} ({spec.image})"):
            response = self.client.api.post(
                "/containers/create",
                headers={"content-type": "application/json"},
                data=json.dumps(body),
            )
            response.raise_for_status()
            container_id = str(response.json()["Id"])
            self._containers.add(container_id)
            # its state is read when needed (reload): no inspection of a container just made
            container = self.client.containers.prepare_model({"Id": container_id})
        self._log.info("container.created", name=spec.name, image=spec.image, id=container_id)
        return container

    def run_job(
        self,
        spec: ContainerSpec,
        *,
        timeout: float | None,
        interactive: bool,
        output: OutputSink,
    ) -> JobResult:
        """Run ``spec`` to its end and remove it. Interactive: stdin from ours, on a terminal
        of its own when ours is one, output shown on our stdout; otherwise no stdin. Every line
        also goes to ``output``. The exit code is the container's (from its wait, not from an
        attach); ``timeout`` stops it (timed_out=True)."""
        use_tty = interactive and os.isatty(0)
        created = time.monotonic()
        container = self._create(spec, terminal=use_tty, stdin=interactive)
        lines = OutputLines(output)
        timer = JobTimer(timeout, lambda expired: self._expire(container, expired))
        sampler = PeakSampler()
        sampler.start(container.id)
        what = f"run job {spec.name} ({spec.image})"
        began = time.monotonic()
        exited = False
        try:
            with _engine_errors(what):
                if use_tty:
                    self._run_on_terminal(container, lines, timer.arm, what)
                else:
                    self._run_attached(container, lines, timer.arm, what, interactive=interactive)
                # not podman's wait, which also waits for conmon's clean-up (ending.py)
                self._ended.add(container.id)
                exit_code = ending.exit_code(functools.partial(self._state, container.id))
                exited = True
        finally:
            ended = time.monotonic()
            timer.cancel()
            peak = sampler.stop()
            lines.close()
            if exited:
                # removed while the next job starts (ending.py)
                self._removals.put(container.id)
            else:
                with contextlib.suppress(EngineError):
                    self._discard(container.id)
            removed = time.monotonic()
        timings = {"create": began - created, "run": ended - began, "remove": removed - ended}
        self._log.info(
            "job.container.finished",
            name=spec.name,
            image=spec.image,
            exit_code=exit_code,
            timed_out=timer.expired.is_set(),
            seconds=round(ended - began, 3),
            peak_memory=peak,
            cgroup=str(sampler.source) if sampler.source else None,
        )
        return JobResult(exit_code, timer.expired.is_set(), tuple(lines.tail), peak, timings)

    def _state(self, container_id: str) -> Any:
        """The container's inspected ``State``."""
        response = self.client.api.get(f"/containers/{container_id}/json")
        response.raise_for_status()
        return response.json()["State"]

    def _run_on_terminal(
        self, container: Any, lines: OutputLines, arm: Callable[[], None], what: str
    ) -> None:
        """Start and attach ``container`` with the podman client on a terminal of ours."""
        command = [
            self.api.podman_binary(),
            "--url",
            self.api.url,
            "start",
            "--attach",
            "--interactive",
            container.id,
        ]
        run_on_pty(command, self.api.environment, lines, arm)
        container.reload()
        if container.status in ("created", "configured", "initialized"):
            # The attach step failed to start it; its words are the last lines.
            raise EngineError(f"{what}: {' | '.join(list(lines.tail)[-3:]) or 'it did not start'}")

    def _run_attached(
        self,
        container: Any,
        lines: OutputLines,
        arm: Callable[[], None],
        what: str,
        *,
        interactive: bool,
    ) -> None:
        """Attach to ``container`` through the service's socket, start it, pump until it ends."""
        socket_path = self.api.socket_path
        with attach.attach_socket(socket_path, container.id, stdin=interactive, what=what) as (
            sock,
            rest,
        ):
            container.start()
            arm()
            stdin = interactive and attach.is_open(0)
            attach.pump(sock, rest, lines, stdin=stdin, echo=interactive)

    def _expire(self, container: Any, expired: threading.Event) -> None:
        """The job timer: stop the container (SIGTERM, then SIGKILL after ``stop_grace``)."""
        expired.set()
        self._log.warning("job.timeout", id=container.id)
        try:
            # The attach process may not have started it yet: wait briefly for it to run.
            for _ in range(50):
                container.reload()
                if container.status not in ("created", "configured", "initialized"):
                    break
                time.sleep(0.1)
            container.stop(timeout=whole_seconds(self.stop_grace))
        except (podman.errors.PodmanError, requests.RequestException) as error:
            self._log.error("job.timeout.stop_failed", id=container.id, error=_explain(error))

    def remove_leftovers(self, run_id: str) -> list[str]:
        """Remove every container and volume labelled ``RUN_LABEL=run_id`` (an interrupted
        boot's); return ``container:<name>`` / ``volume:<name>`` for each."""
        removed: list[str] = []
        label = f"{RUN_LABEL}={run_id}"
        self.finish_removals()
        with _engine_errors(f"remove leftovers of run {run_id}"):
            for container in self.client.containers.list(all=True, filters={"label": label}):
                self._discard(container.id)
                removed.append(f"container:{container.name}")
            for volume in self.client.volumes.list(filters={"label": label}):
                self.remove_volume(volume.name)
                removed.append(f"volume:{volume.name}")
        if removed:
            self._log.info("engine.leftovers.removed", run=run_id, removed=removed)
        return removed


EXIT_POLL_FIRST = 0.002
"""Seconds between the first looks at an ended job's state; doubled up to ``EXIT_POLL_MAX``."""

EXIT_POLL_MAX = 0.1
"""Seconds between later looks (a job whose output closed before it ended)."""


def _answered(response: requests.Response) -> bool:
    """True when podman answered the request without an error status (else HTTPError)."""
    response.raise_for_status()
    return True
