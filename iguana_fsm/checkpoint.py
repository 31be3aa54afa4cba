"""The checkpoint: what a boot has done so far, written atomically to ``/iguana/state``.

``iguana status`` reads it and ``iguana resume`` continues from it, so a write that fails stops
the boot: a boot whose progress cannot be recorded must not go on as if it could.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from iguana_fsm.atomic import write_atomic
from iguana_fsm.errors import CheckpointError

SCHEMA_VERSION = 1


@dataclass
class JobRecord:
    """How one job went. ``status``: pending, running, succeeded, failed, failed-continued
    (failed but ``continue-on-error``), skipped."""

    status: str = "pending"
    exit_code: int | None = None
    started: float | None = None
    finished: float | None = None
    image: str | None = None
    digest: str | None = None
    reason: str | None = None
    attempts: int = 0
    tail: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """Seconds the job ran, when it has started and ended."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass
class BootRecord:
    """The whole mutable record of one boot; the runner checkpoints it after every transition."""

    run_id: str
    state: str
    started: float = field(default_factory=time.time)
    schema: int = SCHEMA_VERSION
    sandbox: bool = False
    workflow_source: str | None = None
    workflow_sha256: str | None = None
    failed_state: str | None = None
    current_job: str | None = None
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    handoff: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    finished: float | None = None

    def to_json(self) -> dict[str, Any]:
        """A plain JSON-able dict, job records included."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BootRecord:
        """The record from its JSON form; CheckpointError on a schema it does not know."""
        if data.get("schema") != SCHEMA_VERSION:
            raise CheckpointError(
                f"checkpoint schema {data.get('schema')!r} is not {SCHEMA_VERSION}: "
                "written by another Iguana version"
            )
        fields = dict(data)
        fields["jobs"] = {name: JobRecord(**job) for name, job in data.get("jobs", {}).items()}
        try:
            return cls(**fields)
        except TypeError as error:
            raise CheckpointError(f"checkpoint is malformed: {error}") from None


class CheckpointStore:
    """Load and save a BootRecord at one path; every save is atomic and durable."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        """Whether a checkpoint has been written."""
        return self.path.exists()

    def load(self) -> BootRecord:
        """The saved record; CheckpointError naming the file when it is missing or broken."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CheckpointError(f"{self.path}: no checkpoint (has a boot started?)") from None
        except OSError as error:
            raise CheckpointError(f"{self.path}: cannot read: {error.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CheckpointError(
                f"{self.path}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}"
            ) from None
        if not isinstance(data, dict):
            raise CheckpointError(f"{self.path}: not a checkpoint (expected a JSON object)")
        return BootRecord.from_json(data)

    def save(self, record: BootRecord) -> None:
        """Write the record atomically and durably (see ``iguana_fsm.atomic``), root-only."""
        # not sorted: jobs keep their run order, which status shows
        payload = json.dumps(record.to_json(), indent=2) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, payload.encode("utf-8"), 0o600)
        except OSError as error:
            raise CheckpointError(f"{self.path}: cannot write checkpoint: {error}") from None
