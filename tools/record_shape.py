#!/usr/bin/env python3
"""The shape of the boot record's JSON form, from the record model's type hints, for
``iguana status`` (``iguana_fsm/data/record-shape.json``): status checks a snapshot against it
without importing the model (its dataclasses cost more than the rest of the verb).

    tools/record_shape.py               print the shape
    tools/record_shape.py --write       write iguana_fsm/data/record-shape.json

A type is a string (``str``, ``int``, ``float``, ``bool``, ``any``) or a list: ``["optional",
T]``, ``["list", T]``, ``["map", T]`` (string keys), ``["enum", VALUES]``, ``["record", NAME]``;
each record maps its fields to their types.
tests/unit/test_status.py checks that the shipped file is what this prints.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP))

from iguana_fsm import record  # noqa: E402

SHIPPED = TOP / "iguana_fsm" / "data" / "record-shape.json"
SIMPLE = {str: "str", int: "int", float: "float", bool: "bool"}


def type_of(kind: Any, records: dict[str, Any]) -> Any:
    """The shape of one type hint; the records it names are added to ``records``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        real = [option for option in typing.get_args(kind) if option is not type(None)]
        return ["optional", type_of(real[0], records)]
    if origin in (list, dict):
        return ["list" if origin is list else "map", type_of(typing.get_args(kind)[-1], records)]
    if dataclasses.is_dataclass(kind):
        add_record(kind, records)
        return ["record", kind.__name__]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return ["enum", [member.value for member in kind]]
    if kind is Any:
        return "any"
    return SIMPLE[kind]


def add_record(kind: Any, records: dict[str, Any]) -> None:
    """Add record class ``kind`` (and those its fields name) to ``records``."""
    if kind.__name__ in records:
        return
    fields: dict[str, Any] = {}
    records[kind.__name__] = fields
    hints = typing.get_type_hints(kind)
    for field in dataclasses.fields(kind):
        fields[field.name] = type_of(hints[field.name], records)


def shape() -> dict[str, Any]:
    """The whole shape: the schema version, the top record's name and every record."""
    records: dict[str, Any] = {}
    add_record(record.BootRecord, records)
    return {"schema": record.SCHEMA, "top": "BootRecord", "records": records}


def text() -> str:
    """The shape as the shipped file holds it."""
    return json.dumps(shape(), indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Print the shape, or write it with --write."""
    if argv == ["--write"]:
        SHIPPED.write_text(text(), encoding="utf-8")
    else:
        sys.stdout.write(text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
