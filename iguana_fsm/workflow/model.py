"""The typed, frozen model of a workflow. Nothing here reads files or YAML."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class Condition(enum.StrEnum):
    """A job's ``if:``: when it runs, given how the jobs before it ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    ALWAYS = "always"


@dataclass(frozen=True)
class Volume:
    """``name:/path``, ``/host:/path`` or ``/path``, each with an optional ``:ro``/``:rw``."""

    source: str | None
    target: str
    read_only: bool = False

    @property
    def is_named(self) -> bool:
        """A named volume: created before its job and removed after it."""
        return self.source is not None and not self.source.startswith("/")

    @property
    def is_bind(self) -> bool:
        """A host path bind-mounted into the container."""
        return self.source is not None and self.source.startswith("/")


@dataclass(frozen=True)
class Container:
    """What runs: an image with its own environment and volumes (a job's or a service's)."""

    image: str
    env: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[Volume, ...] = ()


READY_TIMEOUT_SECONDS = 120.0
"""How long a service may take to be ready unless its ``ready: timeout-seconds`` says."""

STOP_GRACE_SECONDS = 10.0
"""Seconds between SIGTERM and SIGKILL when a service stops, unless ``stop-grace-seconds``."""


@dataclass(frozen=True)
class Readiness:
    """When a started service counts as ready: ``command`` (run in it with ``sh -c``) exits 0,
    ``port`` accepts TCP connections on 127.0.0.1, or ``file`` (a path under /iguana) exists;
    with none of them, the image's health check, else only that it keeps running."""

    command: str | None = None
    port: int | None = None
    file: str | None = None
    timeout: float = READY_TIMEOUT_SECONDS

    @property
    def rule(self) -> str | None:
        """The rule in words (``port 8080``), None when there is none."""
        for name in ("command", "port", "file"):
            value = getattr(self, name)
            if value is not None:
                return f"{name} {value}"
        return None


@dataclass(frozen=True)
class Service:
    """A detached side container that runs while its job runs."""

    id: str
    container: Container
    ready: Readiness = Readiness()
    stop_grace: float = STOP_GRACE_SECONDS


DEFAULT_TIMEOUT_MINUTES = 360.0
"""How long a job without ``timeout-minutes`` may run (six hours, GitHub Actions' default): a
hung installer fails the boot instead of holding it forever."""


@dataclass(frozen=True)
class Job:
    """One installation container with its services; ``line`` is where it starts in the file."""

    id: str
    container: Container
    services: tuple[Service, ...] = ()
    needs: tuple[str, ...] = ()
    condition: Condition = Condition.SUCCESS
    continue_on_error: bool = False
    timeout_minutes: float | None = None
    # the job's own ``env:``; already folded into its container's and services' env at load
    env: Mapping[str, str] = field(default_factory=dict)
    # where the job's key is in its file; not part of what the job means
    line: int = field(default=0, compare=False)

    @property
    def timeout(self) -> float:
        """Minutes the job may run: ``timeout-minutes``, else ``DEFAULT_TIMEOUT_MINUTES``."""
        return self.timeout_minutes or DEFAULT_TIMEOUT_MINUTES


@dataclass(frozen=True)
class Workflow:
    """A whole workflow. ``jobs`` are in file order; ``public_env`` names env values safe to log."""

    jobs: tuple[Job, ...]
    name: str | None = None
    description: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    public_env: frozenset[str] = frozenset()
    # where the workflow came from and where each key path sits in it; not part of its meaning
    source: str = field(default="<workflow>", compare=False)
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict, compare=False)

    def where(self, key_path: str) -> str:
        """``SOURCE:LINE:COL`` of a key path such as ``jobs.build.container.image``."""
        line, col = self.positions.get(key_path, (0, 0))
        return f"{self.source}:{line}:{col}" if line else self.source

    def job(self, job_id: str) -> Job:
        """The job called ``job_id``; KeyError when there is none."""
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)

    def images(self) -> tuple[str, ...]:
        """Every image the workflow names, jobs and services, first use first, no repeats."""
        seen: dict[str, None] = {}
        for job in self.jobs:
            for service in job.services:
                seen.setdefault(service.container.image, None)
            seen.setdefault(job.container.image, None)
        return tuple(seen)
