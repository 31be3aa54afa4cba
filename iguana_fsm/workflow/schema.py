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
from iguana_fsm.workflow.reference import IMAGE_PATTERN

SHIPPED = "workflow.schema.json"
"""The file name of the generated schema in ``iguana_fsm/data``."""

Schema = dict[str, Any]


SCHEMA_ID = "urn:iguana:workflow-schema:1"
"""The schema's ``$id``: a name, not a location (the file is shipped and printed, not served)."""


def _anchored(pattern: str) -> str:
    return f"^{pattern}$"


def _ids(what: str) -> Schema:
    return {
        "type": "string",
        "pattern": _anchored(grammar.JOB_ID),
        "description": f"{what} Letters, digits, _ and -, not starting with a digit or -.",
    }


def _one_of_types(*types: str) -> Schema:
    # ajv --strict refuses a list in "type" (strictTypes); anyOf says the same
    return {"anyOf": [{"type": name} for name in types]}


CONDITIONS = [f"{name}()" for name in grammar.CONDITIONS]
CONDITION_VALUES = [*CONDITIONS, *(f"${{{{ {name} }}}}" for name in CONDITIONS)]
"""The values an editor offers for ``if:``; spacing variants are accepted by the pattern."""


def _kind(kind: Kind) -> Schema:
    if kind is Kind.TEXT:
        return _one_of_types("string", "number", "boolean")
    collection = _collection_kind(kind)
    if collection is not None:
        return collection
    if kind is Kind.CONTAINER:
        return {"$ref": "#/definitions/container"}
    if kind is Kind.CONDITION:
        return {
            "type": "string",
            "anyOf": [
                {"enum": CONDITION_VALUES},
                {"pattern": grammar.CONDITION_PATTERN, "title": "the same, spaced differently"},
            ],
            "examples": CONDITION_VALUES,
        }
    if kind is Kind.BOOL:
        words = {"type": "string", "enum": [*grammar.TRUE_WORDS[3:], *grammar.FALSE_WORDS[3:]]}
        words["description"] = "YAML 1.1's words for true and false, which YAML 1.2 reads as text."
        return {"anyOf": [{"type": "boolean"}, words]}
    if kind is Kind.READY:
        return {"$ref": "#/definitions/ready"}
    if kind is Kind.SECONDS:
        return {"type": "number", "exclusiveMinimum": 0, "maximum": grammar.MAX_SECONDS}
    if kind is Kind.PORT:
        return {"type": "integer", "minimum": 1, "maximum": 65535}
    if kind is Kind.MINUTES:
        return {"type": "number", "exclusiveMinimum": 0, "maximum": grammar.MAX_MINUTES}
    if kind is Kind.IMAGE:
        return {
            "type": "string",
            "pattern": IMAGE_PATTERN,
            "examples": ["registry.example.com/tools/parted:1.4", "alpine", "localhost:5000/x"],
        }
    raise AssertionError(kind)


def _collection_kind(kind: Kind) -> Schema | None:
    """The schema of a mapping or list kind (env, jobs, services, needs, volumes), else None."""
    if kind is Kind.ENV:
        return {
            "type": "object",
            "propertyNames": {
                "pattern": _anchored(grammar.ENV_NAME),
                "description": "A variable name: letters, digits and _, not starting with a digit.",
            },
            "additionalProperties": _one_of_types("string", "number", "boolean", "null"),
        }
    if kind is Kind.ENV_NAMES:
        name = {"type": "string", "pattern": _anchored(grammar.ENV_NAME)}
        return {"type": "array", "items": name, "uniqueItems": True}
    if kind is Kind.JOBS:
        return {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _ids("A job id."),
            "additionalProperties": {"$ref": "#/definitions/job"},
        }
    if kind is Kind.SERVICES:
        return {
            "type": "object",
            "propertyNames": _ids("A service id."),
            "additionalProperties": {"$ref": "#/definitions/service"},
        }
    if kind is Kind.NEEDS:
        job_id = _ids("A job id.")
        return {"oneOf": [job_id, {"type": "array", "items": job_id, "uniqueItems": True}]}
    if kind is Kind.VOLUMES:
        item = {
            "type": "string",
            "pattern": grammar.VOLUME_PATTERN,
            "examples": ["name:/path", "/host/path:/path:ro", "/path"],
        }
        return {"type": "array", "items": item}
    return None


def _mapping(keys: Sequence[Key], title: str, description: str) -> Schema:
    properties = {
        key.name: {"title": key.name, "description": key.description, **_kind(key.kind)}
        for key in keys
    }
    schema: Schema = {
        "type": "object",
        "title": title,
        "description": description,
        "additionalProperties": False,
        "properties": properties,
    }
    required = [key.name for key in keys if key.required]
    if required:
        schema["required"] = required
    return schema


def build_schema() -> Schema:
    """The JSON Schema (draft-07, which editors support best) of a workflow file.

    It passes ``ajv --strict``: no union types, no keyword outside the standard (messages are
    the keys' ``title``/``description`` and ``examples``, which editors show).
    """
    schema = _mapping(grammar.WORKFLOW_KEYS, "Iguana workflow", "An Iguana workflow.")
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        **schema,
        "definitions": {
            "job": _mapping(
                grammar.JOB_KEYS, "job", "A job: one installation container and its services."
            ),
            "container": _mapping(
                grammar.CONTAINER_KEYS, "container", "A container: image, env and volumes."
            ),
            "service": _mapping(
                grammar.SERVICE_KEYS,
                "service",
                "A side container: image, env, volumes, when it is ready and how it stops.",
            ),
            "ready": {
                **_mapping(
                    grammar.READY_KEYS,
                    "ready",
                    "One readiness rule (command, port or file) and how long to wait for it.",
                ),
                "minProperties": 1,
            },
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
