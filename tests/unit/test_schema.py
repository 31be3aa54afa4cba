"""The JSON Schema of workflow files: generated, shipped, and in agreement with the validator."""

from __future__ import annotations

import io
import json
import os
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from iguana_fsm.workflow import grammar
from iguana_fsm.workflow.commands import cmd_schema
from iguana_fsm.workflow.schema import SHIPPED, build_schema, render_schema, shipped_schema
from iguana_fsm.workflow.validator import validate
from tests.unit.test_workflow_invalid import CASES
from tests.unit.test_workflow_parse import FULL, REFERENCE_FILES

VALIDATOR = jsonschema.Draft7Validator(build_schema())

# table cases that are YAML-level or cross-job, which JSON Schema cannot see
NOT_EXPRESSIBLE = {
    "needs-unknown",
    "needs-unknown-in-list",
    "needs-typo",
    "needs-cycle",
    "needs-self",
    "duplicate-job",
    "duplicate-image",
    "volume-twice",
    "merge-key-brings-unknown-key",
    "merge-key-scalar",
    # PyYAML (YAML 1.1), which this test loads with, reads these as numbers; editors (YAML 1.2)
    # read them as text, which the schema refuses
    "timeout-yaml11-underscore",
    "timeout-yaml11-sexagesimal",
    "timeout-infinity",
    "yaml-recursive-alias",
    "volume-twice-trailing-slash",
    "volume-twice-double-slash",
    "continue-quoted",
    "env-value-mapping",
}


def schema_errors(text: str) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(yaml.safe_load(text))]


def test_shipped_file_is_current() -> None:
    """The schema in iguana_fsm/data equals a fresh rendering (regenerate it when this fails)."""
    assert shipped_schema() == render_schema(), (
        "stale: python -m iguana_fsm.workflow.schema > iguana_fsm/data/workflow.schema.json"
    )


def test_is_a_valid_draft7_schema() -> None:
    """The rendered schema is itself valid JSON Schema draft-07."""
    jsonschema.Draft7Validator.check_schema(json.loads(render_schema()))


def ajv() -> str:
    """The ajv command line `make deps` installs into the test cache (npm's ajv-cli)."""
    cache = Path(os.environ.get("IGUANA_TEST_CACHE", "/var/cache/iguana-test"))
    command = cache / "npm-ajv" / "node_modules" / ".bin" / "ajv"
    assert command.exists(), f"{command} is missing: run `make deps` (npm install ajv-cli)"
    return str(command)


def run_ajv(*args: str) -> subprocess.CompletedProcess[str]:
    schema = resources.files("iguana_fsm").joinpath("data", SHIPPED)
    with resources.as_file(schema) as path:
        command = [ajv(), *args, "--spec=draft7", "--strict=true", "-s", str(path)]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def test_ajv_strict_compiles_it() -> None:
    """ajv in strict mode (no union types, no unknown keywords or formats) accepts the schema."""
    result = run_ajv("compile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ajv_agrees_on_the_examples(tmp_path: Path) -> None:
    """ajv accepts the prototype workflows and refuses each broken one the schema can see."""
    good = [FULL, *(path.read_text() for path in REFERENCE_FILES)]
    bad = [case[1] for case in CASES if case[0] not in NOT_EXPRESSIBLE and "yaml-" not in case[0]]
    files = []
    for kind, texts in (("good", good), ("bad", bad)):
        for index, text in enumerate(texts):
            path = tmp_path / f"{kind}-{index}.json"
            path.write_text(json.dumps(yaml.safe_load(text)))
            files.append(path)
    result = run_ajv("validate", *(arg for path in files for arg in ("-d", str(path))))
    output = result.stdout + result.stderr
    verdicts = {
        line.split()[0]: line.split()[1]
        for line in output.splitlines()
        if line.endswith(("valid", "invalid"))
    }
    assert {
        Path(name).name.split("-")[0] for name, verdict in verdicts.items() if verdict == "valid"
    } == {"good"}
    assert sum(verdict == "invalid" for verdict in verdicts.values()) == len(bad), output


def test_schema_has_an_id_and_editor_values() -> None:
    """The schema names itself ($id) and lists the if: values for completion."""
    schema = build_schema()
    assert schema["$id"].startswith("urn:")
    condition = schema["definitions"]["job"]["properties"]["if"]
    assert condition["anyOf"][0]["enum"] == [
        "success()",
        "failure()",
        "always()",
        "${{ success() }}",
        "${{ failure() }}",
        "${{ always() }}",
    ]


def test_keys_come_from_the_grammar_tables() -> None:
    """Properties and required keys are exactly those of the grammar tables."""
    schema: dict[str, Any] = build_schema()
    pairs = [
        (schema, grammar.WORKFLOW_KEYS),
        (schema["definitions"]["job"], grammar.JOB_KEYS),
        (schema["definitions"]["container"], grammar.CONTAINER_KEYS),
    ]
    for part, keys in pairs:
        assert list(part["properties"]) == [key.name for key in keys]
        assert part.get("required", []) == [key.name for key in keys if key.required]
        assert part["additionalProperties"] is False


@pytest.mark.parametrize("path", REFERENCE_FILES, ids=lambda path: path.name)
def test_reference_workflows_conform(path: Path) -> None:
    """Every prototype workflow conforms to the schema."""
    assert schema_errors(path.read_text()) == []


def test_full_workflow_conforms() -> None:
    """A workflow using every key conforms to the schema."""
    assert schema_errors(FULL) == []


@pytest.mark.parametrize(
    "text",
    [case[1] for case in CASES if case[0] not in NOT_EXPRESSIBLE and "yaml-" not in case[0]],
    ids=[case[0] for case in CASES if case[0] not in NOT_EXPRESSIBLE and "yaml-" not in case[0]],
)
def test_schema_rejects_the_broken_table(text: str) -> None:
    """Where JSON Schema can express the rule, the schema rejects the broken workflow too."""
    document = yaml.safe_load(text)
    assert list(VALIDATOR.iter_errors(document)) != []


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.fixed_dictionaries(
            {"container": st.fixed_dictionaries({"image": st.sampled_from(["x", "y:1", "Y"])})},
            optional={
                "needs": st.one_of(st.sampled_from("abc"), st.lists(st.sampled_from("abc"))),
                "if": st.sampled_from(["success()", "${{ failure() }}", "never()"]),
                "timeout-minutes": st.one_of(st.integers(-1, 3), st.floats(-1, 3)),
                "env": st.dictionaries(st.sampled_from(["A", "1B"]), st.sampled_from(["x", "1"])),
            },
        ),
    )
)
def test_never_stricter_than_the_validator(jobs: dict[str, object]) -> None:
    """A workflow that validates always conforms to the schema."""
    text = yaml.safe_dump({"jobs": jobs})
    if not validate(text, "w"):
        assert schema_errors(text) == []


def test_cmd_schema_prints_it() -> None:
    """cmd_schema writes the rendered schema and returns 0."""
    out = io.StringIO()
    assert cmd_schema(out) == 0
    assert out.getvalue() == render_schema()
