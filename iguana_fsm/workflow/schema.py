"""The JSON Schema of workflow files, rendered from the key tables of ``grammar.py``.

Editors use it for completion and checks (``# yaml-language-server: $schema=...``). It is
looser than ``iguana validate`` in places JSON Schema cannot express (cycles, unknown needs,
duplicate keys, volume targets used twice), never stricter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from iguana_fsm.workflow import grammar
from iguana_fsm.workflow.grammar import Key, Kind
from iguana_fsm.workflow.reference import IMAGE_PATTERN, NAME_MAX

SHIPPED = "workflow.schema.json"
"""The file name of the generated schema in ``iguana_fsm/data``."""

Schema = dict[str, Any]


def _anchored(pattern: str) -> str:
    return f"^{pattern}$"


def _ids(what: str) -> Schema:
    return {"type": "string", "pattern": _anchored(grammar.JOB_ID), "description": what}


def _kind(kind: Kind) -> Schema:
    if kind is Kind.TEXT:
        return {"type": ["string", "number", "boolean"]}
    if kind is Kind.ENV:
        return {
            "type": "object",
            "propertyNames": {"pattern": _anchored(grammar.ENV_NAME)},
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        }
    if kind is Kind.ENV_NAMES:
        name = {"type": "string", "pattern": _anchored(grammar.ENV_NAME)}
        return {"type": "array", "items": name, "uniqueItems": True}
    if kind is Kind.JOBS:
        return {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": _anchored(grammar.JOB_ID)},
            "additionalProperties": {"$ref": "#/definitions/job"},
        }
    if kind is Kind.CONTAINER:
        return {"allOf": [{"$ref": "#/definitions/container"}]}
    if kind is Kind.SERVICES:
        return {
            "type": "object",
            "propertyNames": {"pattern": _anchored(grammar.JOB_ID)},
            "additionalProperties": {"$ref": "#/definitions/container"},
        }
    if kind is Kind.NEEDS:
        job_id = _ids("A job id.")
        return {"oneOf": [job_id, {"type": "array", "items": job_id, "uniqueItems": True}]}
    if kind is Kind.CONDITION:
        return {"type": "string", "pattern": grammar.CONDITION_PATTERN}
    if kind is Kind.BOOL:
        return {"type": "boolean"}
    if kind is Kind.MINUTES:
        return {"type": "number", "exclusiveMinimum": 0}
    if kind is Kind.IMAGE:
        return {"type": "string", "pattern": IMAGE_PATTERN, "maxLength": NAME_MAX + 400}
    if kind is Kind.VOLUMES:
        return {"type": "array", "items": {"type": "string", "pattern": grammar.VOLUME_PATTERN}}
    raise AssertionError(kind)


def _mapping(keys: Sequence[Key], description: str) -> Schema:
    properties = {key.name: {"description": key.description, **_kind(key.kind)} for key in keys}
    schema: Schema = {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": properties,
    }
    required = [key.name for key in keys if key.required]
    if required:
        schema["required"] = required
    return schema


def build_schema() -> Schema:
    """The JSON Schema (draft-07, which editors support best) of a workflow file."""
    schema = _mapping(grammar.WORKFLOW_KEYS, "An Iguana workflow.")
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Iguana workflow",
        **schema,
        "definitions": {
            "job": _mapping(grammar.JOB_KEYS, "A job: one installation container and services."),
            "container": _mapping(grammar.CONTAINER_KEYS, "A container: image, env, volumes."),
        },
    }


def render_schema() -> str:
    """The schema as the text shipped in the package and printed by ``iguana schema``."""
    return json.dumps(build_schema(), indent=2) + "\n"


def shipped_schema() -> str:
    """The schema file shipped in ``iguana_fsm/data``."""
    return resources.files("iguana_fsm").joinpath("data", SHIPPED).read_text(encoding="utf-8")


if __name__ == "__main__":
    # regenerates the shipped file: python -m iguana_fsm.workflow.schema > iguana_fsm/data/...
    print(render_schema(), end="")
