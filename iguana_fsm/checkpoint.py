"""The checkpoint: what a boot has done so far, written atomically to ``/iguana/state``.

``iguana status`` reads it and ``iguana resume`` continues from it, so a write that fails stops
the boot: a boot whose progress cannot be recorded must not go on as if it could.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from iguana_fsm.atomic import write_atomic
from iguana_fsm.errors import CheckpointError
from iguana_fsm.record import HISTORY_KEPT, SCHEMA, BootRecord, JobRecord, from_plain

__all__ = [
    "SCHEMA_VERSION",
    "BootRecord",
    "CheckpointStore",
    "JobRecord",
    "decode",
    "encode",
    "migrate_v1",
]

SCHEMA_VERSION = SCHEMA
"""2: the typed record (``iguana_fsm.record``); 1: details, handoff and error as free dicts."""

_ERROR_KEYS = ("state", "message", "code", "job", "exit_code", "tail", "problems")
_WORKFLOW_TRUST_KEYS = (
    "kind",
    "location",
    "trusted_as",
    "fallback_from",
    "sha256",
    "pinned",
    "signed_by",
    "attempts",
)


def encode(record: BootRecord) -> str:
    """The record as compact JSON, all of it through json's C encoder: a dataclass becomes its
    ``__dict__`` (fields in declaration order), an enum its value (they are str and int
    subclasses). Not sorted: jobs keep their run order, which status shows. The cost is the
    size of the record, with no Python work per field (bench/bench_orchestration.py)."""
    return json.dumps(record, default=vars, separators=(",", ":"), ensure_ascii=False)


def decode(data: dict[str, Any], where: str) -> BootRecord:
    """The record from its JSON form, version 1 migrated; CheckpointError naming ``where``
    on a schema it does not know or a value that does not fit."""
    schema = data.get("schema")
    if schema == 1:
        data = migrate_v1(data)
    elif schema != SCHEMA_VERSION:
        raise CheckpointError(
            f"{where}: checkpoint schema {schema!r} is not {SCHEMA_VERSION}: "
            "written by another Iguana version"
        )
    return from_plain(BootRecord, data, where)


def migrate_v1(old: dict[str, Any]) -> dict[str, Any]:
    """A version-1 checkpoint in the version-2 form: the ``details`` bag becomes typed fields,
    history steps say source/dest, the hand-off's ``"skipped"`` mounts become ``mounted``."""
    data = {key: value for key, value in old.items() if key != "details"}
    details: dict[str, Any] = old.get("details") or {}
    data["schema"] = SCHEMA_VERSION
    data["cmdline"] = details.get("cmdline")
    data["images_present"] = list(details.get("images_present") or [])
    data["services"] = dict(details.get("services") or {})
    trust = details.get("trust") or {}
    workflow = trust.get("workflow")
    data["trust"] = {
        "workflow": (
            {key: workflow[key] for key in _WORKFLOW_TRUST_KEYS if key in workflow}
            if workflow
            else None
        ),
        "images": trust.get("images") or {},
    }
    data["rescue"] = details.get("rescue")
    history = [
        {
            "source": step.get("from"),
            "dest": step.get("to"),
            "trigger": step.get("trigger"),
            "at": step.get("at", 0.0),
        }
        for step in old.get("history") or []
    ]
    data["transitions"] = len(history)
    data["history"] = history[-HISTORY_KEPT:]
    error = old.get("error")
    if error is not None:
        data["error"] = {key: error[key] for key in _ERROR_KEYS if key in error}
    if old.get("handoff") is not None:
        data["handoff"] = _handoff_v1(old["handoff"])
    return data


def _handoff_v1(old: dict[str, Any]) -> dict[str, Any]:
    handoff = dict(old)
    mounts = handoff.pop("mounts", None)
    handoff["mounts_skipped"] = mounts == "skipped"
    handoff["mounts"] = mounts if isinstance(mounts, list) else []
    if isinstance(handoff.get("kexec"), dict) and handoff["kexec"]:
        handoff["kexec"] = _handoff_v1(handoff["kexec"])
    elif "kexec" in handoff:
        handoff["kexec"] = None
    return handoff


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
        return decode(data, str(self.path))

    def save(self, record: BootRecord) -> None:
        """Write the record atomically and durably (see ``iguana_fsm.atomic``), root-only."""
        payload = encode(record) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, payload.encode("utf-8"), 0o600)
        except OSError as error:
            raise CheckpointError(f"{self.path}: cannot write checkpoint: {error}") from None
