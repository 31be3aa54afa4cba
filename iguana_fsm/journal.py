"""What changed in a boot record since it was last written, as one journal line, and how such
lines are applied to the record's JSON form again.

A save must not cost more as the boot goes on: a thousand jobs, each with its image and trust
verdict, make a record of hundreds of kilobytes, and writing all of it after every transition
made the orchestration of the thousandth job cost ten times the first. So ``CheckpointStore``
writes the whole record only now and then (a *snapshot*) and otherwise appends what changed.

What changes is found without encoding the whole record again: the small fields are encoded
and compared one by one; the maps (jobs, images, trust verdicts, services) are compared key by
key against a shallow copy of what was written (values are replaced, not changed in place,
except a job's record, which is re-encoded only while it has not ended: an ended job never
changes again within one process); lists that only grow (history, warnings) give their new tail,
``images_present`` its additions and removals.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from iguana_fsm.record import HISTORY_KEPT, BootRecord
from iguana_fsm.workflow.jobstatus import ENDED

_ABSENT = object()

MAPS = ("jobs", "images", "services", "trust.images")
"""Dict fields diffed key by key (a dotted name is a field of a field)."""

GROWING = ("history", "warnings")
"""List fields that only grow at their end (history is bounded: its oldest steps go)."""

SETS = ("images_present",)
"""List fields whose order does not matter: additions and removals are journalled."""

LARGE = frozenset({"jobs", "images", "services", "trust", *GROWING, *SETS})
"""Top-level fields that are not journalled whole; ``trust.workflow`` is, as a small field."""


def encode(value: Any) -> str:
    """Compact JSON through the C encoder: dataclasses as their fields, enums as values."""
    return json.dumps(value, default=vars, separators=(",", ":"), ensure_ascii=False)


def _get(record: BootRecord, name: str) -> Any:
    value: Any = record
    for part in name.split("."):
        value = getattr(value, part)
    return value


def _small(record: BootRecord) -> dict[str, str]:
    """Every small field, encoded: the top-level ones and ``trust.workflow``."""
    fields = {name: encode(value) for name, value in vars(record).items() if name not in LARGE}
    fields["trust.workflow"] = encode(record.trust.workflow)
    return fields


class Written:
    """What the last snapshot or journal line left on disk, to diff the record against."""

    def __init__(self, record: BootRecord) -> None:
        self.record = record
        self.small = _small(record)
        self.maps = {name: dict(_get(record, name)) for name in MAPS}
        self.job_text = {job_id: encode(job) for job_id, job in record.jobs.items()}
        # jobs that had not ended when written; an ended job does not change again here
        self.live = {job_id for job_id, job in record.jobs.items() if job.status not in ENDED}
        self.lists = {name: list(_get(record, name)) for name in GROWING}
        self.transitions = record.transitions
        self.present = set(record.images_present)

    def delta(self, record: BootRecord) -> dict[str, Any]:
        """The changes since the last write, as a journal entry (empty when nothing changed);
        the record counts as written afterwards."""
        entry: dict[str, Any] = {}
        small = _small(record)
        changed = {name: text for name, text in small.items() if self.small.get(name) != text}
        if changed:
            entry["set"] = {name: json.loads(text) for name, text in changed.items()}
            self.small = small
        maps = {name: diff for name in MAPS if (diff := self._map(record, name))}
        if maps:
            entry["maps"] = maps
        grown = {name: tail for name in GROWING if (tail := self._grown(record, name))}
        if grown:
            entry["append"] = grown
        present = set(record.images_present)
        if present != self.present:
            entry["present"] = {
                "add": sorted(present - self.present),
                "remove": sorted(self.present - present),
            }
            self.present = present
        return entry

    def _map(self, record: BootRecord, name: str) -> dict[str, Any]:
        new: dict[str, Any] = _get(record, name)
        old = self.maps[name]
        if name == "jobs":
            updates = self._jobs(new, old)
        elif new == old:  # C-speed: the same values are the same objects
            return {}
        else:
            updates = {
                key: json.loads(encode(value))
                for key, value in new.items()
                if (before := old.get(key, _ABSENT)) is not value and before != value
            }
        removed = (
            [key for key in old if key not in new] if len(new) - len(updates) < len(old) else []
        )
        if not updates and not removed:
            return {}
        self.maps[name] = dict(new)
        return {"set": updates, "remove": removed}

    def _jobs(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """The jobs that may have changed: those not ended when last written, and new ones
        (a dict keeps insertion order: they are at its end). Ended ones are not looked at."""
        if len(new) >= len(old):
            candidates = [*self.live, *itertools.islice(new, len(old), None)]
        else:
            candidates = list(new)
        updates: dict[str, Any] = {}
        for key in candidates:
            job = new.get(key)
            if job is None:
                continue
            text = encode(job)
            if self.job_text.get(key) != text:
                self.job_text[key] = text
                updates[key] = json.loads(text)
            if job.status in ENDED:
                self.live.discard(key)
            else:
                self.live.add(key)
        return updates

    def _grown(self, record: BootRecord, name: str) -> Any:
        new: list[Any] = _get(record, name)
        old = self.lists[name]
        if name == "history":
            added = record.transitions - self.transitions
            self.transitions = record.transitions
            tail = new[len(new) - min(added, len(new)) :] if added > 0 else []
        elif new[: len(old)] == old:
            tail = new[len(old) :]
        else:  # not just appended to: write it whole
            self.lists[name] = list(new)
            return {"replace": json.loads(encode(new))}
        self.lists[name] = list(new)
        return json.loads(encode(tail)) if tail else None


def apply(data: dict[str, Any], entry: dict[str, Any]) -> None:
    """Apply one journal ``entry`` to the record's JSON form ``data`` in place."""
    for name, value in entry.get("set", {}).items():
        _target(data, name)[name.rsplit(".", 1)[-1]] = value
    for name, change in entry.get("maps", {}).items():
        holder = _target(data, name)
        key = name.rsplit(".", 1)[-1]
        mapping = holder.setdefault(key, {})
        for removed in change.get("remove", []):
            mapping.pop(removed, None)
        mapping.update(change.get("set", {}))
    for name, tail in entry.get("append", {}).items():
        if isinstance(tail, dict):
            data[name] = tail["replace"]
        else:
            data.setdefault(name, []).extend(tail)
    if "history" in data:
        data["history"] = data["history"][-HISTORY_KEPT:]
    present = entry.get("present")
    if present is not None:
        gone = set(present["remove"])
        kept = [item for item in data.get("images_present", []) if item not in gone]
        data["images_present"] = kept + [item for item in present["add"] if item not in kept]


def _target(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The dict that holds the field ``name`` (``trust.images`` is held by ``data["trust"]``)."""
    holder = data
    for part in name.split(".")[:-1]:
        holder = holder.setdefault(part, {})
    return holder
