"""The checkpoint: what a boot has done so far, written atomically to ``/iguana/state``.

``iguana status`` reads it and ``iguana resume`` continues from it, so a write that fails stops
the boot: a boot whose progress cannot be recorded must not go on as if it could.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from iguana_fsm.errors import CheckpointError
from iguana_fsm.journal import Written, apply
from iguana_fsm.journal import encode as journal_encode
from iguana_fsm.machine import STATES
from iguana_fsm.record import HISTORY_KEPT, SCHEMA, BootRecord, JobRecord, from_plain, known_only
from iguana_fsm.regular import MAX_BYTES, read_regular

__all__ = [
    "MAX_BYTES",
    "SCHEMA_VERSION",
    "BootRecord",
    "CheckpointStore",
    "JobRecord",
    "decode",
    "encode",
    "migrate_v1",
    "migrate_v2",
    "read_regular",
]

SCHEMA_VERSION = SCHEMA
"""3: the typed record with the progress, memory and timing fields; 2: the typed record
(``iguana_fsm.record``), some of whose fields came later without a new number; 1: details,
handoff and error as free dicts. Older schemas are read through their migrations, one step at
a time; a newer one is refused (``iguana status`` shows what it knows of it)."""

JOURNAL_STATES = frozenset({"services", "jobs"})
"""States whose saves may go to the journal: the job loop, the part that repeats per job."""

JOURNAL_MIN_BYTES = 64 * 1024
"""A journal this long is folded into a snapshot even when the snapshot is smaller."""

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
    subclasses). Not sorted: jobs keep their run order, which status shows."""
    return journal_encode(record)


def decode(data: dict[str, Any], where: str, newer_ok: bool = False) -> BootRecord:
    """The record from its JSON form, older schemas migrated; CheckpointError naming ``where``
    on a schema this version does not read or a value that does not fit. ``newer_ok``: a newer
    schema reads as far as this version knows its keys (the others are left out, and the
    record keeps the newer number), for ``iguana status``."""
    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise CheckpointError(f"{where}: checkpoint schema {schema!r} is not one Iguana writes")
    if schema > SCHEMA_VERSION:
        if not newer_ok:
            raise CheckpointError(newer_message(where, schema))
        data = known_only(BootRecord, data)
    while schema < SCHEMA_VERSION:
        data = MIGRATIONS[schema](data)
        schema = data["schema"]
    record = from_plain(BootRecord, data, where)
    _check_states(record, where)
    return record


def newer_message(where: str, schema: int) -> str:
    """The one line that refuses a checkpoint of a newer schema."""
    return (
        f"{where}: checkpoint schema {schema} was written by a newer Iguana; this one reads "
        f"schemas 1 to {SCHEMA_VERSION} (use the Iguana that wrote it)"
    )


def _check_states(record: BootRecord, where: str) -> None:
    """States the machine has, and a failed state only where one failed."""
    if record.state not in STATES:
        raise CheckpointError(f"{where}: state: {record.state!r} is not a state of the boot")
    if record.failed_state is not None and record.failed_state not in STATES:
        raise CheckpointError(
            f"{where}: failed_state: {record.failed_state!r} is not a state of the boot"
        )
    if record.current_job is not None and record.current_job not in record.jobs:
        raise CheckpointError(f"{where}: current_job: {record.current_job!r} is not a job here")


def migrate_v1(old: dict[str, Any]) -> dict[str, Any]:
    """A version-1 checkpoint in the version-2 form: the ``details`` bag becomes typed fields,
    history steps say source/dest, the hand-off's ``"skipped"`` mounts become ``mounted``."""
    data = {key: value for key, value in old.items() if key != "details"}
    details: dict[str, Any] = old.get("details") or {}
    data["schema"] = 2
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


def migrate_v2(old: dict[str, Any]) -> dict[str, Any]:
    """A version-2 checkpoint in the version-3 form. Version 3 only adds keys (the job's place,
    progress and memory, ``jobs_total``, ``memory``, ``timings``, ``entered``, a transition's
    ``mem_available``), which take their defaults, and a version-2 checkpoint written after
    some of them came already has those. One meaning moved: version 2 set ``finished`` when an
    ending was entered, version 3 once it is carried out; a version-2 boot at its ending with
    ``finished`` set stays finished, as the Iguana that wrote it said."""
    return {**old, "schema": 3}


MIGRATIONS = {1: migrate_v1, 2: migrate_v2}
"""Each older schema's step to the next one."""


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
    """Load and save a BootRecord at one path; every save is atomic and durable.

    A save writes the whole record (a snapshot, atomically: temp file, fsync, rename, directory
    fsync) or appends what changed to ``<path>.journal`` (one JSON line, fsync), see
    ``iguana_fsm.journal``. Snapshots are taken at the first save of a process, in every state
    outside the job loop (so the copies for the installed system and the report device are
    whole), and when the journal has grown past the snapshot; a snapshot removes the journal.
    Each journal line names the run and the snapshot generation it follows, so a journal that a
    crash left beside a newer snapshot is ignored, as is a last line cut short by one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal = path.with_name(path.name + ".journal")
        self._written: Written | None = None
        self._snapshot_bytes = 0
        self._journal_bytes = 0

    def exists(self) -> bool:
        """Whether a checkpoint has been written."""
        return self.path.exists()

    def load(self, newer_ok: bool = False) -> BootRecord:
        """The saved record; CheckpointError naming the file when it is missing or broken, or
        of a newer schema (unless ``newer_ok``: see ``decode``)."""
        data = self._read_json(self.path)
        for entry in self._journal_entries(data.get("generation"), data.get("run_id")):
            try:
                apply(data, entry)
            except (AttributeError, KeyError, TypeError, ValueError):
                raise CheckpointError(f"{self.journal}: an entry does not fit the record") from None
        return decode(data, str(self.path), newer_ok)

    def save(self, record: BootRecord) -> None:
        """Checkpoint ``record`` durably (root-only); CheckpointError when it cannot be."""
        try:
            if self._snapshot_due(record):
                self._snapshot(record)
            else:
                self._append(record)
        except OSError as error:
            self._written = None  # what is on disk is not known: the next save is whole
            raise CheckpointError(f"{self.path}: cannot write checkpoint: {error}") from None

    def _snapshot_due(self, record: BootRecord) -> bool:
        written = self._written
        return (
            written is None
            or written.record is not record
            or record.state not in JOURNAL_STATES
            or self._journal_bytes > max(self._snapshot_bytes, JOURNAL_MIN_BYTES)
        )

    def _snapshot(self, record: BootRecord) -> None:
        from iguana_fsm.atomic import write_atomic  # tempfile and shutil: for writers only

        record.generation += 1
        payload = (encode(record) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, payload, 0o600)
        self.journal.unlink(missing_ok=True)
        self._written = Written(record)
        self._snapshot_bytes, self._journal_bytes = len(payload), 0

    def _append(self, record: BootRecord) -> None:
        assert self._written is not None
        entry = self._written.delta(record)
        if not entry:
            return
        entry["generation"] = record.generation
        entry["run_id"] = record.run_id
        line = (journal_encode(entry) + "\n").encode("utf-8")
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            before = os.fstat(fd).st_size
            if os.write(fd, line) != len(line):
                # a full file system took part of the line: take it back, so that a later
                # line is not glued to it
                os.ftruncate(fd, before)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(fd)
        finally:
            os.close(fd)
        if self._journal_bytes == 0:
            from iguana_fsm.atomic import fsync_directory

            fsync_directory(self.journal.parent)  # the journal's creation is durable too
        self._journal_bytes += len(line)

    def _read_json(self, path: Path) -> dict[str, Any]:
        try:
            text = read_regular(path).decode("utf-8")
        except UnicodeDecodeError as error:
            raise CheckpointError(
                f"{path}: not a checkpoint (byte {error.start} is not UTF-8)"
            ) from None
        except FileNotFoundError:
            raise CheckpointError(f"{path}: no checkpoint (has a boot started?)") from None
        except OSError as error:
            raise CheckpointError(f"{path}: cannot read: {error.strerror}") from None
        data = _parse(text, str(path))
        if not isinstance(data, dict):
            raise CheckpointError(f"{path}: not a checkpoint (expected a JSON object)")
        return data

    def _journal_entries(self, generation: object, run_id: object) -> list[dict[str, Any]]:
        """The journal's entries that follow snapshot ``generation`` of run ``run_id``."""
        try:
            raw = read_regular(self.journal)
        except FileNotFoundError:
            return []
        except OSError as error:
            raise CheckpointError(f"{self.journal}: cannot read: {error.strerror}") from None
        lines = raw.split(b"\n")
        # the last piece is empty after a complete line; anything else was cut short by a crash
        entries = []
        for number, line in enumerate(lines[:-1], 1):
            try:
                entry = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                raise CheckpointError(f"{self.journal}:{number}: not UTF-8") from None
            except json.JSONDecodeError as error:
                at = f"{self.journal}:{number}"
                raise CheckpointError(f"{at}: not valid JSON: {error.msg}") from None
            except RecursionError:
                raise CheckpointError(f"{self.journal}:{number}: nested too deeply") from None
            if not isinstance(entry, dict):
                raise CheckpointError(f"{self.journal}:{number}: not a journal entry")
            follows = (entry.pop("generation", None), entry.pop("run_id", None))
            if follows == (generation, run_id):
                entries.append(entry)
        return entries


def _parse(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f"{where}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}"
        ) from None
    except RecursionError:
        raise CheckpointError(f"{where}: not a checkpoint (nested too deeply)") from None
