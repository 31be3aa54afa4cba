"""Fuzzing: whatever the input, validation returns problems and never raises."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iguana_fsm.errors import WorkflowInvalid
from iguana_fsm.workflow.grammar import CONTAINER_KEYS, JOB_KEYS, WORKFLOW_KEYS
from iguana_fsm.workflow.plan import run_order
from iguana_fsm.workflow.problem import Problem
from iguana_fsm.workflow.validator import load_workflow, validate

KEYS = sorted({key.name for key in (*WORKFLOW_KEYS, *JOB_KEYS, *CONTAINER_KEYS)})
WORDS = [*KEYS, "a", "b", "alpine", "/x:/y:ro", "name:/d", "success()", "${{ always() }}", "1X"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=20),
)
# structures made of the language's own key names, so the walk goes deep
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=40,
)
YAML_CHARS = st.sampled_from([*":-[]{}&*!|>'\"%@`#,? \n\t\\~=<", "  ", "jobs", "a", "1"])
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_problems(result: object) -> None:
    assert isinstance(result, list)
    for problem in result:
        assert isinstance(problem, Problem)
        assert problem.file == "fuzz.yaml" and problem.line >= 0 and problem.col >= 0
        assert "\n" not in str(problem) and "\r" not in str(problem)


@FUZZ
@given(st.text())
def test_random_text(text: str) -> None:
    """Any unicode text yields a list of problems."""
    assert_problems(validate(text, "fuzz.yaml"))


@FUZZ
@given(
    st.text(st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)))
)
def test_random_text_with_surrogates(text: str) -> None:
    """Strings holding lone surrogates (which no file decodes to) still yield problems."""
    assert_problems(validate(text, "fuzz.yaml"))


@FUZZ
@given(st.binary())
def test_random_bytes(data: bytes) -> None:
    """Any bytes (invalid UTF-8, NUL, BOMs) yield a list of problems."""
    assert_problems(validate(data, "fuzz.yaml"))


@FUZZ
@given(st.lists(YAML_CHARS, max_size=60).map("".join))
def test_yaml_punctuation(text: str) -> None:
    """Texts dense in YAML syntax characters yield a list of problems."""
    assert_problems(validate(text, "fuzz.yaml"))


@FUZZ
@given(st.fixed_dictionaries({"jobs": documents}, optional={"env": documents, "name": scalars}))
def test_random_structures(document: object) -> None:
    """Well-formed YAML of random shape yields problems, and load_workflow agrees with it."""
    text = yaml.safe_dump(document, allow_unicode=True)
    problems = validate(text, "fuzz.yaml")
    assert_problems(problems)
    try:
        load_workflow(text, "fuzz.yaml")
    except WorkflowInvalid as error:
        assert error.problems == problems
    else:
        assert problems == []


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.fixed_dictionaries(
            {"container": st.fixed_dictionaries({"image": st.sampled_from(["x", "y:1"])})},
            optional={
                "needs": st.one_of(st.sampled_from("abcde"), st.lists(st.sampled_from("abcde"))),
                "if": st.sampled_from(["success()", "failure()", "always()", "never()"]),
                "continue-on-error": st.booleans(),
            },
        ),
        min_size=1,
    )
)
def test_random_job_graphs(jobs: dict[str, object]) -> None:
    """Random needs graphs are either valid (and orderable) or reported, never a crash."""
    text = yaml.safe_dump({"jobs": jobs})
    problems = validate(text, "fuzz.yaml")
    assert_problems(problems)
    if not problems:
        order = [job.id for job in run_order(load_workflow(text, "fuzz.yaml"))]
        assert sorted(order) == sorted(jobs)
