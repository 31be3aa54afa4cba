"""``iguana logs``: the boot's log (``/iguana/log.jsonl``) for a person, or filtered JSON lines
for machines, as ``journalctl -t ignition`` is for Ignition.

Every event is shown with the state the boot was in when it was logged (the last
``state.entered`` before it); ``--job``, ``--state`` and ``--level`` filter, ``--format json``
prints the matching events as they are in the file, one JSON object a line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from iguana_fsm.commands.options import add_format, add_target, paths_of
from iguana_fsm.errors import CheckpointError, ExitCode

LEVELS = ("debug", "info", "warning", "error", "critical")
_SHOWN_APART = frozenset({"event", "level", "timestamp", "run_id", "job", "state", "line"})


def add_parser(subparsers: Any) -> None:
    """Declare ``logs``."""
    parser = subparsers.add_parser(
        "logs",
        help="the boot's log, readable; filter by job, state or level",
        description=f"Exit codes: {ExitCode.OK:d} shown, "
        f"{ExitCode.CHECKPOINT:d} no readable log (no boot has logged here).",
    )
    add_target(parser)
    parser.add_argument("--job", metavar="ID", help="only the events of this job")
    parser.add_argument("--state", metavar="STATE", help="only what was logged in this state")
    parser.add_argument(
        "--level", choices=LEVELS, default="info", help="the least level shown (default: info)"
    )
    add_format(parser, "the events (JSON: one object a line, as logged)")
    parser.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    """Print the matching events; 0, or 8 when there is no log."""
    path = paths_of(args).log
    try:
        handle_ = path.open(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no log: no boot has logged here") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read the log: {error.strerror}") from None
    least = LEVELS.index(args.level)
    broken = 0
    with handle_:
        for event in _events(handle_):
            if event is None:
                broken += 1
                continue
            if _matches(event, args.job, args.state, least):
                print(json.dumps(event, sort_keys=True) if args.format == "json" else render(event))
    if broken:
        print(f"iguana: {path}: {broken} line(s) are not JSON events, left out", file=sys.stderr)
    return ExitCode.OK


def _events(lines: IO[str]) -> Iterator[dict[str, Any] | None]:
    """Each event with ``state`` set to where the boot was; None for a line that is not one
    (a line cut short by a power loss)."""
    state = "-"
    for line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            yield None
            continue
        if not isinstance(event, dict):
            yield None
            continue
        if event.get("event") == "state.entered" and isinstance(event.get("state"), str):
            state = event["state"]
        event.setdefault("state", state)
        yield event


def _matches(event: dict[str, Any], job: str | None, state: str | None, least: int) -> bool:
    level = str(event.get("level", "info"))
    if (LEVELS.index(level) if level in LEVELS else 1) < least:
        return False
    if job is not None and event.get("job") != job:
        return False
    return state is None or event.get("state") == state


def render(event: dict[str, Any]) -> str:
    """One event on one line: time, level, state, job, event and its other fields."""
    when = str(event.get("timestamp", ""))[:23].replace("T", " ")
    level = str(event.get("level", "info"))
    head = f"{when} {level:<7} {event.get('state')!s:<11}"
    job = f" [{event['job']}]" if event.get("job") else ""
    if event.get("event") == "job.output":
        return f"{head}{job} | {event.get('line', '')}"
    fields = " ".join(
        f"{key}={_value(value)}"
        for key, value in sorted(event.items())
        if key not in _SHOWN_APART and value is not None
    )
    return f"{head}{job} {event.get('event')} {fields}".rstrip()


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return json.dumps(text) if (" " in text or not text) and isinstance(value, str) else text
