"""A table of broken workflows, each with the exact place and key path its problem must name."""

from __future__ import annotations

import pytest

from iguana_fsm.errors import WorkflowInvalid
from iguana_fsm.workflow.validator import load_workflow, validate

JOB = "jobs:\n  a:\n    container:\n      image: alpine\n"
"""A valid one-job workflow; cases append lines to it (line 5 is the first added line)."""

SHA = "0123456789abcdef" * 4

# (id, text, "LINE:COL: key.path", words the message must contain)
CASES: list[tuple[str, str, str, str]] = [
    ("empty-file", "", "1:1: jobs", "the file is empty"),
    ("only-comment", "# nothing\n", "1:1: jobs", "the file is empty"),
    ("no-jobs", "name: x\n", "1:1: jobs", "required key is missing"),
    ("jobs-empty-mapping", "jobs: {}\n", "1:7: jobs", "at least one job"),
    ("jobs-null", "jobs:\n", "1:6: jobs", "expected a mapping (key: value), found nothing"),
    ("jobs-list", "jobs:\n  - a\n", "2:3: jobs", "expected a mapping (key: value), found a list"),
    ("root-list", "- jobs\n", "1:1: ", "expected a mapping (key: value), found a list"),
    ("job-null", "jobs:\n  a:\n", "2:5: jobs.a", "found nothing"),
    ("no-container", "jobs:\n  a:\n    needs: []\n", "2:3: jobs.a.container", "required key"),
    (
        "no-image",
        "jobs:\n  a:\n    container:\n      env: {}\n",
        "3:5: jobs.a.container.image",
        "required key is missing",
    ),
    (
        "image-upper",
        JOB.replace("alpine", "Alpine"),
        "4:14: jobs.a.container.image",
        "must be lowercase, not 'Alpine'",
    ),
    (
        "image-digest-short",
        JOB.replace("alpine", "alpine@sha256:abc"),
        "4:14: jobs.a.container.image",
        "sha256 digest must have 64 hex digits, not 3",
    ),
    (
        "image-digest-upper",
        JOB.replace("alpine", f"alpine@sha256:{SHA.upper()}"),
        "4:14: jobs.a.container.image",
        "lowercase hex",
    ),
    (
        "image-tag",
        JOB.replace("alpine", "alpine:-1"),
        "4:14: jobs.a.container.image",
        "tag '-1' must be",
    ),
    (
        "image-port",
        JOB.replace("alpine", "reg.example.com:99999/x"),
        "4:14: jobs.a.container.image",
        "port '99999'",
    ),
    (
        "image-empty-component",
        JOB.replace("alpine", "reg.example.com//x"),
        "4:14: jobs.a.container.image",
        "empty component",
    ),
    (
        "image-mapping",
        JOB.replace("alpine", "{name: x}"),
        "4:14: jobs.a.container.image",
        "expected an image reference, found a mapping",
    ),
    ("unknown-need", JOB + "    need: b\n", "5:5: jobs.a.need", "did you mean 'needs'?"),
    (
        "unknown-continue",
        JOB + "    continue_on_eror: true\n",
        "5:5: jobs.a.continue_on_eror",
        "did you mean 'continue-on-error'?",
    ),
    ("unknown-top", JOB + "descripton: x\n", "5:1: descripton", "did you mean 'description'?"),
    (
        "unknown-container-key",
        JOB + "      volume: [/x]\n",
        "5:7: jobs.a.container.volume",
        "did you mean 'volumes'?",
    ),
    ("needs-unknown", JOB + "    needs: b\n", "5:12: jobs.a.needs", "needs unknown job 'b'"),
    (
        "needs-unknown-in-list",
        JOB + "    needs: [a2, c]\n  a2:\n    container: {image: x}\n",
        "5:17: jobs.a.needs[1]",
        "needs unknown job 'c'",
    ),
    (
        "needs-typo",
        JOB + "  b:\n    needs: [A]\n    container: {image: x}\n",
        "6:13: jobs.b.needs[0]",
        "did you mean 'a'?",
    ),
    (
        "needs-mapping",
        JOB + "    needs: {b: 1}\n",
        "5:12: jobs.a.needs",
        "expected a job id or a list of them, found a mapping",
    ),
    (
        "needs-twice",
        JOB + "  b:\n    needs: [a, a]\n    container: {image: x}\n",
        "6:16: jobs.b.needs[1]",
        "'a' is listed twice",
    ),
    (
        "needs-cycle",
        "jobs:\n  a:\n    needs: b\n    container: {image: x}\n"
        "  b:\n    needs: [a]\n    container: {image: x}\n",
        "3:12: jobs.a.needs",
        "needs form a cycle: a -> b -> a",
    ),
    ("needs-self", JOB + "    needs: a\n", "5:12: jobs.a.needs", "needs form a cycle: a -> a"),
    (
        "duplicate-job",
        JOB + "  a:\n    container: {image: x}\n",
        "5:3: jobs.a",
        "duplicate key (first at line 2)",
    ),
    (
        "duplicate-image",
        JOB + "      image: busybox\n",
        "5:7: jobs.a.container.image",
        "duplicate key (first at line 4)",
    ),
    ("job-id", JOB.replace("  a:", "  1st:"), "2:3: jobs.1st", "a job id must match"),
    ("job-id-newline", JOB.replace("  a:", '  "a\\nb":'), "2:3: jobs.'a\\nb'", "a job id must"),
    (
        "volume-relative",
        JOB + "      volumes: [data:relative]\n",
        "5:17: jobs.a.container.volumes[0]",
        "target 'relative' must be an absolute path",
    ),
    (
        "volume-empty-part",
        JOB + "      volumes:\n        - /x:/y\n        - /host::/x\n",
        "7:11: jobs.a.container.volumes[1]",
        "a part between ':' is empty",
    ),
    (
        "volume-mode",
        JOB + "      volumes: ['/a:/b:rx']\n",
        "5:17: jobs.a.container.volumes[0]",
        "mode 'rx' must be ro or rw",
    ),
    (
        "volume-source",
        JOB + "      volumes: ['-x:/b']\n",
        "5:17: jobs.a.container.volumes[0]",
        "source '-x' must be",
    ),
    (
        "volume-dev",
        JOB + "      volumes: ['/dev:/dev']\n",
        "5:17: jobs.a.container.volumes[0]",
        "invalid volume '/dev:/dev': /dev is always mounted by Iguana",
    ),
    (
        "volume-dev-slash-ro",
        JOB + "      volumes: ['/x', 'data://dev/:ro']\n",
        "5:23: jobs.a.container.volumes[1]",
        "invalid volume 'data://dev/:ro': /dev is always mounted by Iguana",
    ),
    (
        "volume-iguana",
        JOB + "      volumes: [/iguana]\n",
        "5:17: jobs.a.container.volumes[0]",
        "invalid volume '/iguana': /iguana is always mounted by Iguana",
    ),
    (
        "service-volume-iguana",
        JOB
        + "    services:\n      db:\n        image: postgres\n        volumes: [/h:/iguana:rw]\n",
        "8:19: jobs.a.services.db.volumes[0]",
        "/iguana is always mounted by Iguana",
    ),
    (
        "volume-root",
        JOB + "      volumes: ['data:/']\n",
        "5:17: jobs.a.container.volumes[0]",
        "invalid volume 'data:/': / is the container's own root",
    ),
    (
        "volume-twice",
        JOB + "      volumes: [/a:/b, c:/b:ro]\n",
        "5:24: jobs.a.container.volumes[1]",
        "'/b' is already mounted by item 0",
    ),
    (
        "volume-twice-trailing-slash",
        JOB + "      volumes: [/data, 'x:/data/']\n",
        "5:24: jobs.a.container.volumes[1]",
        "'/data' is already mounted by item 0",
    ),
    (
        "volume-twice-double-slash",
        JOB + "      volumes: [/a/./b, /h://a//b/:ro]\n",
        "5:25: jobs.a.container.volumes[1]",
        "'/a/b' is already mounted by item 0",
    ),
    (
        "volumes-mapping",
        JOB + "      volumes:\n        data: /x\n",
        "6:9: jobs.a.container.volumes",
        "expected a list (- item), found a mapping",
    ),
    (
        "env-list",
        JOB + "      env: [A=1]\n",
        "5:12: jobs.a.container.env",
        "expected a mapping (key: value), found a list",
    ),
    (
        "env-name",
        JOB + "      env:\n        1X: y\n",
        "6:9: jobs.a.container.env.1X",
        "not a valid variable name",
    ),
    (
        "env-value-mapping",
        "env:\n  A:\n    b: c\n" + JOB,
        "3:5: env.A",
        "expected a text value, found a mapping",
    ),
    (
        "env-value-list",
        JOB + "    env:\n      A: [1, 2]\n",
        "6:10: jobs.a.env.A",
        "expected a text value, found a list",
    ),
    (
        "public-env-scalar",
        "public-env: TOKEN\n" + JOB,
        "1:13: public-env",
        "expected a list (- item), found 'TOKEN'",
    ),
    (
        "public-env-name",
        "public-env: [OK, a-b]\n" + JOB,
        "1:18: public-env[1]",
        "'a-b' is not a valid variable name",
    ),
    (
        "timeout-zero",
        JOB + "    timeout-minutes: 0\n",
        "5:22: jobs.a.timeout-minutes",
        "expected a number of minutes above 0 and at most 1000000, found '0'",
    ),
    (
        "timeout-quoted",
        JOB + '    timeout-minutes: "10"\n',
        "5:22: jobs.a.timeout-minutes",
        "found the quoted text '10'; write it without quotes",
    ),
    (
        "timeout-overflow",
        JOB + "    timeout-minutes: 1e400\n",
        "5:22: jobs.a.timeout-minutes",
        "found '1e400'",
    ),
    (
        "timeout-yaml11-underscore",
        JOB + "    timeout-minutes: 1_000\n",
        "5:22: jobs.a.timeout-minutes",
        "found '1_000'",
    ),
    (
        "timeout-yaml11-sexagesimal",
        JOB + "    timeout-minutes: 1:30\n",
        "5:22: jobs.a.timeout-minutes",
        "found '1:30'",
    ),
    (
        "timeout-infinity",
        JOB + "    timeout-minutes: .inf\n",
        "5:22: jobs.a.timeout-minutes",
        "found '.inf'",
    ),
    (
        "timeout-text",
        JOB + "    timeout-minutes: ten\n",
        "5:22: jobs.a.timeout-minutes",
        "found 'ten'",
    ),
    (
        "timeout-bool",
        JOB + "    timeout-minutes: true\n",
        "5:22: jobs.a.timeout-minutes",
        "found 'true'",
    ),
    ("if-typo", JOB + "    if: sucess()\n", "5:9: jobs.a.if", "'sucess()' is not a condition"),
    ("if-unbalanced", JOB + "    if: ${{ failure()\n", "5:9: jobs.a.if", "is not a condition"),
    (
        "if-expression",
        JOB + "    if: github.ref == 'main'\n",
        "5:9: jobs.a.if",
        "is not a condition",
    ),
    (
        "continue-text",
        JOB + "    continue-on-error: maybe\n",
        "5:24: jobs.a.continue-on-error",
        "expected true or false, found 'maybe'",
    ),
    (
        "continue-quoted",
        JOB + "    continue-on-error: 'true'\n",
        "5:24: jobs.a.continue-on-error",
        "expected true or false, found the quoted text 'true'; write it without quotes",
    ),
    (
        "continue-block-scalar",
        JOB + "    continue-on-error: |\n      true\n",
        "5:24: jobs.a.continue-on-error",
        "expected true or false",
    ),
    (
        "service-no-image",
        JOB + "    services:\n      db:\n        env: {}\n",
        "6:7: jobs.a.services.db.image",
        "required key is missing",
    ),
    (
        "service-list",
        JOB + "    services:\n      - image: x\n",
        "6:7: jobs.a.services",
        "expected a mapping (key: value), found a list",
    ),
    (
        "service-unknown-key",
        JOB + "    services:\n      db:\n        image: x\n        ports: [1]\n",
        "8:9: jobs.a.services.db.ports",
        "unknown key",
    ),
    ("name-mapping", "name: {a: 1}\n" + JOB, "1:7: name", "expected text, found a mapping"),
    (
        "merge-key-scalar",
        JOB + "      <<: base\n",
        "5:11: jobs.a.container.<<",
        "a merge key (<<) takes a mapping or a list of mappings",
    ),
    (
        "merge-key-brings-unknown-key",
        JOB + "      <<: {imag: y}\n",
        "5:12: jobs.a.container.imag",
        "did you mean 'image'?",
    ),
    (
        "yaml-recursive-alias",
        "jobs: &j\n  a:\n    container: {image: x}\n    env: {A: *j}\n",
        "4:14: ",
        "alias *j is inside the node it names",
    ),
    ("yaml-tab", "jobs:\n\ta:\n", "2:1: ", "a tab cannot indent YAML"),
    ("yaml-flow", "jobs:\n  a: [\n", "3:1: ", "YAML: did not find expected node content"),
    ("yaml-two-docs", "jobs: {}\n---\njobs: {}\n", "2:1: ", "a single document"),
    ("yaml-colon", "name: a: b\n" + JOB, "1:8: ", "YAML: mapping values are not allowed"),
    ("yaml-control-char", JOB + "\x07\n", "5:1: ", "character U+0007 is not allowed"),
    ("yaml-surrogate", JOB + "  b: \ud800\n", "5:6: ", "character U+D800 is not allowed"),
]


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_problem_is_placed_exactly(text: str, where: str, words: str) -> None:
    """Each broken workflow yields exactly one problem, at the expected line, column and key."""
    problems = [str(problem) for problem in validate(text, "w.yaml")]
    assert len(problems) == 1, problems
    prefix = f"w.yaml:{where}: " if not where.endswith(": ") else f"w.yaml:{where}"
    assert problems[0].startswith(prefix), problems[0]
    assert words in problems[0][len(prefix) :], problems[0]


def test_table_is_big_enough() -> None:
    """The issue asks for at least 25 distinct invalid workflows."""
    assert len({case[0] for case in CASES}) == len(CASES) >= 25


def test_every_problem_is_reported_at_once() -> None:
    """Problems in different jobs and layers all come back from one call, in file order."""
    text = (
        "env:\n  1X: y\n"
        "jobs:\n"
        "  a:\n    need: b\n    container: {image: Alpine}\n"
        "  b:\n    needs: zz\n    timeout-minutes: -1\n    container:\n      volumes: [x]\n"
    )
    problems = validate(text, "w.yaml")
    assert [(p.line, p.col, p.key_path) for p in problems] == [
        (2, 3, "env.1X"),
        (5, 5, "jobs.a.need"),
        (6, 24, "jobs.a.container.image"),
        (8, 12, "jobs.b.needs"),
        (9, 22, "jobs.b.timeout-minutes"),
        (10, 5, "jobs.b.container.image"),
        (11, 17, "jobs.b.container.volumes[0]"),
    ]


def test_load_workflow_raises_with_every_problem() -> None:
    """load_workflow raises WorkflowInvalid holding the full list, its message the first one."""
    text = JOB + "    need: b\n    if: never()\n"
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow(text, "w.yaml")
    assert len(caught.value.problems) == 2
    assert str(caught.value).startswith("w.yaml:5:5: jobs.a.need: unknown key")
    assert str(caught.value).endswith("(and 1 more)")
    assert caught.value.exit_code == 2


def test_unknown_key_without_near_miss_lists_the_known_keys() -> None:
    """An unknown key that resembles nothing lists the keys that are allowed there."""
    (problem,) = validate(JOB + "    zzz: 1\n", "w.yaml")
    assert "known keys: container, services, needs, if" in problem.message


def test_a_file_that_is_no_workflow_is_placed_but_not_quoted() -> None:
    """Lines of a host file read as a workflow (passwd and shadow lines, long text) are placed
    by line and column, but neither their keys nor their values are quoted."""
    shadow = "root:$6$pepper$NOT-FOR-THE-LOG:19000:0:99999:7:::\nbin:*:19000::::::\n"
    problems = [str(problem) for problem in validate(shadow, "/etc/shadow")]
    assert problems[0] == (
        "/etc/shadow:1:1: <a key of 48 characters>: unknown key; "
        "known keys: name, description, env, public-env, jobs"
    )
    assert "/etc/shadow:2:1: <a key of 16 characters>: unknown key" in problems[2]
    assert not [problem for problem in problems if "pepper" in problem or "bin:" in problem]
    (scalar,) = validate("x" * 30 + "SECRET" + "y" * 30 + "\n", "f")
    assert str(scalar).endswith("found a text of 66 characters")
