"""The workflow language as data: which keys each mapping has, of which kind, and why.

The validator walks these tables and the JSON Schema is rendered from them, so the language is
written down exactly once. A new key is one ``Key`` here plus its handling in ``parse.py``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """What a key's value must be."""

    TEXT = "text"
    ENV = "env"
    ENV_NAMES = "env-names"
    JOBS = "jobs"
    CONTAINER = "container"
    SERVICES = "services"
    NEEDS = "needs"
    CONDITION = "condition"
    BOOL = "bool"
    MINUTES = "minutes"
    IMAGE = "image"
    VOLUMES = "volumes"
    READY = "ready"
    SECONDS = "seconds"
    PORT = "port"


@dataclass(frozen=True)
class Key:
    """One key of a mapping in the language."""

    name: str
    kind: Kind
    description: str
    required: bool = False


JOB_ID = r"[A-Za-z_][A-Za-z0-9_-]*"
"""Job and service ids, as in GitHub workflows."""
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
"""Environment variable names a shell can use."""
VOLUME_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
"""Named volumes, as podman accepts them."""
VOLUME_MODES = ("ro", "rw")
TRUE_WORDS = ("true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON")
"""Plain scalars that are true: YAML 1.2's core booleans and YAML 1.1's words for them."""
MAX_MINUTES = 1_000_000.0
"""Longest ``timeout-minutes`` (about two years): anything longer is a typo."""
MAX_SECONDS = 86_400.0
"""Longest wait in seconds (a day): ``ready: timeout-seconds``, ``stop-grace-seconds``."""
FALSE_WORDS = ("false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF")
"""Plain scalars that are false, likewise."""
CONDITIONS = ("success", "failure", "always")
CONDITION_PATTERN = (
    r"^\s*(?:(?:success|failure|always)\(\)|\$\{\{\s*(?:success|failure|always)\(\)\s*\}\})\s*$"
)
"""``success()``, ``failure()`` or ``always()``, optionally wrapped in ``${{ }}``."""
RESERVED_TARGETS = {
    "/dev": "/dev is always mounted by Iguana",
    "/iguana": "/iguana is always mounted by Iguana",
    "/": "/ is the container's own root; a volume cannot replace it",
}
"""Volume targets a workflow cannot use, and why: podman refuses a second mount on /dev or
/iguana, and a volume on / hides the image."""
VOLUME_TARGET = r"(?!/+(?:(?:dev|iguana)/*)?(?::|$))/[^:]*"
"""An absolute path that is none of ``RESERVED_TARGETS`` (also not with extra slashes)."""
VOLUME_PATTERN = rf"^(?:(?:{VOLUME_NAME}|/[^:]*):)?{VOLUME_TARGET}(?::(?:ro|rw))?$"
"""``name:/path``, ``/host:/path`` or ``/path``, each with an optional ``:ro`` or ``:rw``."""

WORKFLOW_KEYS: tuple[Key, ...] = (
    Key("name", Kind.TEXT, "A name for people; shown in logs and in `iguana validate --explain`."),
    Key("description", Kind.TEXT, "What the workflow is for."),
    Key("env", Kind.ENV, "Environment of every container, jobs' and services'."),
    Key(
        "public-env",
        Kind.ENV_NAMES,
        "Names of environment variables whose values may be logged; all others are redacted.",
    ),
    Key("jobs", Kind.JOBS, "The jobs, in run order unless `needs` moves one later.", True),
)

JOB_KEYS: tuple[Key, ...] = (
    Key("container", Kind.CONTAINER, "The installation container this job runs.", True),
    Key("services", Kind.SERVICES, "Side containers that run, detached, while the job runs."),
    Key("needs", Kind.NEEDS, "A job id or a list of job ids that must succeed before this job."),
    Key(
        "if",
        Kind.CONDITION,
        "When the job runs: success() (default), failure() or always(), optionally in ${{ }}.",
    ),
    Key(
        "continue-on-error",
        Kind.BOOL,
        "A failure of this job does not fail the boot nor skip the jobs after it.",
    ),
    Key("timeout-minutes", Kind.MINUTES, "The job fails when its container runs longer."),
    Key("env", Kind.ENV, "Environment of this job's container and services."),
)

CONTAINER_KEYS: tuple[Key, ...] = (
    Key(
        "image", Kind.IMAGE, "An OCI image reference: [registry[:port]/]path[:tag][@digest].", True
    ),
    Key("env", Kind.ENV, "Environment of this container; wins over job and workflow env."),
    Key("volumes", Kind.VOLUMES, "Volumes: name:/path, /host/path:/path or /path, +:ro or :rw."),
)

READY_RULES = ("command", "port", "file")
"""A ``ready:`` mapping names exactly one of these."""

READY_KEYS: tuple[Key, ...] = (
    Key("command", Kind.TEXT, "Ready once this command, run in the service with sh -c, exits 0."),
    Key("port", Kind.PORT, "Ready once this TCP port on 127.0.0.1 accepts connections."),
    Key("file", Kind.TEXT, "Ready once this file under /iguana exists (the service writes it)."),
    Key("timeout-seconds", Kind.SECONDS, "How long to wait for it (default 120)."),
)

SERVICE_KEYS: tuple[Key, ...] = (
    *CONTAINER_KEYS,
    Key(
        "ready",
        Kind.READY,
        "When the service counts as ready: one of command, port or file, and timeout-seconds.",
    ),
    Key(
        "stop-grace-seconds",
        Kind.SECONDS,
        "Seconds between SIGTERM and SIGKILL when the service stops after its job (default 10).",
    ),
)
