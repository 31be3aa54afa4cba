"""Validation cost is bounded by a constant for any input the boot accepts (up to 16 MiB).

Each case is a generated worst case for one shape (alias bombs, long needs chains, many unknown
needs, long cycles, huge flat documents). Memory is measured with tracemalloc and output size
is counted; times are shown by bench/bench_validate.py, not asserted here.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from iguana_fsm.workflow import validator
from iguana_fsm.workflow.plan import find_cycles
from iguana_fsm.workflow.problem import Problem
from iguana_fsm.workflow.source import MAX_BYTES
from iguana_fsm.workflow.validator import validate
from iguana_fsm.workflow.yaml_nodes import NODE_LIMIT, expanded_size
from tests.support.workflow_shapes import alias_bomb, needs_chain

MEMORY_LIMIT = 100 * 1024 * 1024
"""The issue's bound on the memory one validation may use."""


def peak_memory(function: Callable[[], object]) -> int:
    """The peak of Python allocations while ``function`` runs, in bytes."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class TestAliases:
    def test_expanded_size_counts_each_alias_as_its_node(self) -> None:
        """An alias counts as the whole node it names (YAML's alias nodes), so 3 levels of 10
        aliases are 10^3 copies of the innermost mapping."""
        size = expanded_size(alias_bomb(3, 10), limit=10**9)
        # each level-n mapping: 1 + width * (key + expanded level n-1); level 0 is 3 nodes
        level = 3
        for _ in range(3):
            level = 1 + 10 * (1 + level)
        assert size > level

    def test_reused_anchor_names_the_latest_node(self) -> None:
        """An anchor written again names the newer node from there on (YAML 1.2, 7.1)."""
        text = "a: &x [1, 2, 3, 4]\nb: &x 5\nc: [*x, *x]\n"
        # mapping + 3 keys + list of 4 + scalar + list holding two 1-node aliases
        assert expanded_size(text) == 1 + 3 + 5 + 1 + 3

    def test_alias_bomb_is_refused_in_bounded_memory(self) -> None:
        """A few kilobytes that expand past the node limit are refused, never expanded."""
        text = alias_bomb(9, 10)
        assert len(text) < 4096
        problems: list[Problem] = []
        peak = peak_memory(lambda: problems.extend(validate(text, "bomb.yaml")))
        assert [problem.message for problem in problems] == [
            f"YAML: more than {NODE_LIMIT} nodes once aliases are expanded; a workflow is far "
            "smaller"
        ]
        assert peak < 10 * 1024 * 1024

    def test_aliases_within_the_limit_are_validated(self) -> None:
        """The issue's 4 KB workflow (a job aliased 100 times, each with 100 aliased services)
        is validated, every copy checked, within the memory bound."""
        services = ", ".join(f"s{index}: *c" for index in range(100))
        lines = ["jobs:", "  j0: &job", "    container: &c {image: alpine}"]
        lines.append(f"    services: {{{services}}}")
        lines += [f"  j{index}: *job" for index in range(1, 100)]
        text = "\n".join(lines) + "\n"
        assert len(text) < 4096
        problems: list[Problem] = []
        peak = peak_memory(lambda: problems.extend(validate(text, "w.yaml")))
        assert problems == []
        assert peak < MEMORY_LIMIT


class TestSizes:
    def test_flat_document_of_16_mib_stops_at_the_node_limit(self) -> None:
        """A 16 MiB flow list of scalars is refused after NODE_LIMIT events, in bounded memory."""
        text = "[" + "a," * (MAX_BYTES // 2 - 1) + "]"
        problems: list[Problem] = []
        peak = peak_memory(lambda: problems.extend(validate(text, "flat.yaml")))
        assert "nodes once aliases are expanded" in problems[0].message
        # the text itself is 16 MiB; validation adds only a bounded amount on top of it
        assert peak < MEMORY_LIMIT

    def test_ten_thousand_job_chain_is_valid_within_the_memory_bound(self) -> None:
        """The issue's 10,000-job chain validates cleanly under the memory bound."""
        text = needs_chain(10_000)
        problems: list[Problem] = []
        peak = peak_memory(lambda: problems.extend(validate(text, "chain.yaml")))
        assert problems == []
        assert peak < MEMORY_LIMIT


class TestNeeds:
    def test_unknown_needs_get_capped_suggestions_and_output(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Thousands of unknown needs: only SUGGESTION_LIMIT did-you-mean searches are made and
        only PROBLEM_LIMIT problems are listed, plus one line counting the rest."""
        searches = 0
        near = validator._near

        def counting(word: str, choices: list[str]) -> str | None:
            nonlocal searches
            searches += 1 if len(choices) > 100 else 0
            return near(word, choices)

        monkeypatch.setattr(validator, "_near", counting)
        lines = ["jobs:"]
        for index in range(3000):
            lines += [f"  j{index}:", f"    needs: j{index}x", "    container: {image: alpine}"]
        problems = validate("\n".join(lines) + "\n", "w.yaml")
        assert searches == validator.SUGGESTION_LIMIT
        assert len(problems) == validator.PROBLEM_LIMIT + 1
        assert problems[-1].message == f"{3000 - validator.PROBLEM_LIMIT} more problems not shown"
        assert "did you mean 'j0'?" in problems[0].message
        assert "did you mean" not in problems[-2].message

    def test_long_cycle_is_one_short_problem(self) -> None:
        """4,000 jobs in a chain, the second half each needing the first job back, are one
        problem of bounded length: the shortest cycle through the first job, elided."""
        lines = ["jobs:"]
        for index in range(4000):
            needs = [f"j{(index + 1) % 4000}"] + (["j0"] if 2000 <= index < 3999 else [])
            lines += [
                f"  j{index}:",
                f"    needs: [{', '.join(needs)}]",
                "    container: {image: a}",
            ]
        problems = validate("\n".join(lines) + "\n", "w.yaml")
        assert len(problems) == 1
        message = problems[0].message
        assert message.startswith("needs form a cycle: j0 -> ")
        assert message.endswith("(1993 more) -> j2000 -> j0") and len(str(problems[0])) < 300

    def test_cycle_shown_is_the_shortest_through_the_first_job(self) -> None:
        """Of a knot of jobs, the cycle named starts at the job written first and is shortest."""
        graph = {"a": ["b"], "b": ["c", "a"], "c": ["a"], "d": ["d"]}
        assert find_cycles(graph) == [["a", "b", "a"], ["d", "d"]]

    def test_long_elided_cycle_names_its_ends(self) -> None:
        """A cycle longer than CYCLE_SHOWN jobs names its first jobs, a count, and its last."""
        cycle = [f"j{index}" for index in range(20)] + ["j0"]
        shown = validator._elide(cycle)
        assert shown == "j0 -> j1 -> j2 -> j3 -> j4 -> j5 -> j6 -> ... (12 more) -> j19 -> j0"

    def test_many_needs_of_one_job_are_checked_in_linear_time(self) -> None:
        """One job needing 20,000 distinct jobs is read with a set, not a list search."""
        lines = ["jobs:", "  last:", "    container: {image: a}", "    needs:"]
        lines += [f"      - j{index}" for index in range(20_000)]
        lines += [
            line
            for index in range(20_000)
            for line in (f"  j{index}:", "    container: {image: a}")
        ]
        assert validate("\n".join(lines) + "\n", "w.yaml") == []


class TestOneLine:
    @pytest.mark.parametrize("job_id", ["a\nb", "a\x1b[31mb", "a\u2028b", "a\x85b"])
    def test_cycle_of_odd_ids_stays_on_one_line(self, job_id: str) -> None:
        """A needs cycle through an id holding a line break or escape shows it quoted, escaped."""
        quoted = job_id.encode("unicode_escape").decode()
        text = (
            f'jobs:\n  "{quoted}":\n    needs: b\n    container: {{image: a}}\n'
            f'  b:\n    needs: "{quoted}"\n    container: {{image: a}}\n'
        )
        problems = [str(problem) for problem in validate(text, "w.yaml")]
        cycle = [line for line in problems if "cycle" in line]
        assert len(cycle) == 1 and repr(job_id) in cycle[0]
        assert all(line.isprintable() for line in problems)

    def test_duplicate_target_with_escape_is_quoted(self) -> None:
        """A volume target holding an escape character is shown quoted in the duplicate problem."""
        text = 'jobs:\n  a:\n    container:\n      image: a\n      volumes: ["/x\\e", "v:/x\\e/"]\n'
        (problem,) = validate(text, "w.yaml")
        assert "'/x\\x1b' is already mounted by item 0" in str(problem)
        assert str(problem).isprintable()

    def test_any_problem_prints_on_one_line(self) -> None:
        """Whatever a file name or message holds, a printed problem is one printable line."""
        problem = Problem("a\nb.yaml", 1, 2, "jobs.\x1b", "bad \u2028 value\r")
        assert str(problem).isprintable()
        assert str(problem) == "a\\nb.yaml:1:2: jobs.\\x1b: bad \\u2028 value\\r"


class TestPositions:
    def test_reader_error_after_non_ascii_is_placed_in_characters(self) -> None:
        """libyaml's reader gives a byte offset; the problem names line and column in characters."""
        text = (
            "name: "
            + "é" * 3000
            + "\njobs:\n  a:\n    container: {image: a}\n"
            + "env: {A: x\x01}\n"
        )
        (problem,) = validate(text, "w.yaml")
        assert (problem.line, problem.col) == (5, 11)
        assert "U+0001" in problem.message

    def test_reader_error_on_a_line_of_non_ascii(self) -> None:
        """A bad character after 3,000 two-byte characters on its own line is at column 3,001."""
        text = "jobs: {}\n# " + "é" * 2998 + "\x07\n"
        (problem,) = validate(text, "w.yaml")
        assert (problem.line, problem.col) == (2, 3001)

    def test_syntax_error_after_non_ascii_is_placed_in_characters(self) -> None:
        """A parser error after non-ASCII text is placed by character column (libyaml's marks)."""
        text = "name: " + "é" * 100 + "\njobs: [\n"
        (problem,) = validate(text, "w.yaml")
        assert problem.line == 3

    def test_invalid_utf8_column_counts_characters(self) -> None:
        """A byte that is not UTF-8 after two-byte characters is placed at its character column."""
        data = "jobs: ééé".encode() + b"\xff\n"
        (problem,) = validate(data, "w.yaml")
        assert (problem.line, problem.col) == (1, 10)
