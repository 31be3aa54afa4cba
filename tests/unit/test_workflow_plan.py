"""Run order, the if/needs semantics, environment layering and redaction."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from iguana_fsm.errors import WorkflowInvalid
from iguana_fsm.workflow.model import Condition, Container, Job, Workflow
from iguana_fsm.workflow.plan import (
    JobStatus,
    find_cycles,
    merged_env,
    redact,
    run_order,
    should_run,
)
from iguana_fsm.workflow.validator import load_workflow

S, F, K, C = (
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.SKIPPED,
    JobStatus.FAILED_CONTINUED,
)


def job(job_id: str, *needs: str, condition: str = "success", **kwargs: object) -> Job:
    return Job(
        id=job_id,
        container=Container(image="x"),
        needs=needs,
        condition=Condition(condition),
        **kwargs,  # type: ignore[arg-type]
    )


def order_of(text: str) -> list[str]:
    return [j.id for j in run_order(load_workflow(text, "w"))]


def jobs_text(*specs: str) -> str:
    """A workflow text from 'id' or 'id:need1,need2' specs."""
    lines = ["jobs:"]
    for spec in specs:
        job_id, _, needs = spec.partition(":")
        lines.append(f"  {job_id}:")
        if needs:
            lines.append(f"    needs: [{needs}]")
        lines.append("    container: {image: x}")
    return "\n".join(lines) + "\n"


def simulate(workflow: Workflow, outcomes: Mapping[str, str]) -> dict[str, str]:
    """Run the plan the way the jobs stage does; a job that runs ends as ``outcomes`` says."""
    results: dict[str, str] = {}
    for item in run_order(workflow):
        runs, _ = should_run(item, results)
        if not runs:
            results[item.id] = K
            continue
        outcome = outcomes.get(item.id, S)
        results[item.id] = C if outcome == F and item.continue_on_error else outcome
    return results


class TestRunOrder:
    """File order, each job moved later only as far as its needs require."""

    def test_file_order_without_needs(self) -> None:
        """Without needs, jobs run exactly in file order."""
        assert order_of(jobs_text("c", "a", "b")) == ["c", "a", "b"]

    def test_need_moves_a_job_later(self) -> None:
        """A job that needs a later job runs right after it, the rest stay in place."""
        assert order_of(jobs_text("b:c", "a", "c", "d")) == ["a", "c", "b", "d"]

    def test_stable_for_chains(self) -> None:
        """A chain written backwards runs forwards; unrelated jobs keep their order."""
        assert order_of(jobs_text("x", "c:b", "b:a", "y", "a")) == ["x", "y", "a", "b", "c"]

    def test_diamond(self) -> None:
        """A job with two needs waits for both."""
        assert order_of(jobs_text("d:b,c", "c:a", "b:a", "a")) == ["a", "c", "b", "d"]

    def test_cycle_raises(self) -> None:
        """A hand-built workflow with a cycle is refused, naming the cycle."""
        workflow = Workflow(jobs=(job("a", "b"), job("b", "a")), source="w")
        with pytest.raises(WorkflowInvalid, match="a -> b -> a"):
            run_order(workflow)

    def test_thousand_job_chain(self) -> None:
        """A long chain written in reverse is ordered without recursion limits."""
        jobs = tuple(job(f"j{i}", f"j{i + 1}") if i < 999 else job(f"j{i}") for i in range(1000))
        order = run_order(Workflow(jobs=jobs))
        assert [j.id for j in order] == [f"j{i}" for i in reversed(range(1000))]


class TestFindCycles:
    """Cycles in the needs graph."""

    def test_each_cycle_once_from_its_first_job(self) -> None:
        """Two separate cycles are each reported once, starting at the job written first."""
        graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d"], "e": ["a"]}
        assert find_cycles(graph) == [["a", "b", "c", "a"], ["d", "d"]]

    def test_no_cycle(self) -> None:
        """A diamond is no cycle; unknown needs are ignored."""
        assert find_cycles({"a": [], "b": ["a"], "c": ["a", "zz"], "d": ["b", "c"]}) == []

    def test_long_cycle_is_iterative(self) -> None:
        """A 5,000-job cycle is found without hitting the recursion limit."""
        graph = {f"j{i}": [f"j{(i + 1) % 5000}"] for i in range(5000)}
        (cycle,) = find_cycles(graph)
        assert len(cycle) == 5001 and cycle[0] == cycle[-1] == "j0"


class TestShouldRun:
    """The if:/needs semantics of docs/architecture.md."""

    def test_first_job_runs(self) -> None:
        """A job with no needs and nothing before it runs."""
        assert should_run(job("a"), {})[0] is True

    def test_success_skips_after_any_failure(self) -> None:
        """success() does not run once an earlier job failed, even an unrelated one."""
        runs, reason = should_run(job("b"), {"a": F})
        assert (runs, reason) == (False, "'a' failed earlier")

    def test_success_runs_after_continued_failure(self) -> None:
        """A failed continue-on-error job is not a failure for later jobs nor for its needers."""
        assert should_run(job("b", "a"), {"a": C})[0] is True

    def test_need_failed(self) -> None:
        """A job whose need failed is skipped, saying which need."""
        assert should_run(job("b", "a"), {"a": F}) == (False, "needs 'a', which failed")

    def test_need_skipped(self) -> None:
        """A job whose need was skipped is skipped too."""
        assert should_run(job("c", "b"), {"a": S, "b": K}) == (
            False,
            "needs 'b', which was skipped",
        )

    def test_need_missing_counts_as_skipped(self) -> None:
        """A need that has no result yet is treated as skipped, never as success."""
        assert should_run(job("b", "a"), {})[0] is False

    def test_failure_without_needs(self) -> None:
        """failure() without needs runs when any earlier job failed, and only then."""
        assert should_run(job("r", condition="failure"), {"a": S, "b": F})[0] is True
        assert should_run(job("r", condition="failure"), {"a": S, "b": C})[0] is False
        assert should_run(job("r", condition="failure"), {})[0] is False

    def test_failure_with_needs(self) -> None:
        """failure() with needs runs when a need failed or was skipped by a failure."""
        rescue = job("r", "b", condition="failure")
        assert should_run(rescue, {"a": F, "b": K})[0] is True
        assert should_run(rescue, {"b": F})[0] is True
        assert should_run(rescue, {"a": F, "b": S})[0] is False
        assert should_run(rescue, {"a": S, "b": K})[0] is False

    def test_always(self) -> None:
        """always() runs whatever happened before, even with failed and skipped needs."""
        assert should_run(job("z", "a", "b", condition="always"), {"a": F, "b": K}) == (
            True,
            "if: always()",
        )

    def test_statuses_are_the_checkpoint_strings(self) -> None:
        """The status values are plain strings the checkpoint stores."""
        assert [str(status) for status in JobStatus] == [
            "succeeded",
            "failed",
            "skipped",
            "failed-continued",
        ]


class TestSimulatedRuns:
    """Whole workflows played through should_run in run order."""

    WORKFLOW = """\
jobs:
  partition:
    container: {image: x}
  install:
    needs: partition
    container: {image: x}
  configure:
    needs: install
    container: {image: x}
  report:
    needs: configure
    if: always()
    container: {image: x}
  rescue:
    needs: configure
    if: failure()
    container: {image: x}
  optional:
    continue-on-error: true
    container: {image: x}
  after-optional:
    container: {image: x}
"""

    def test_all_succeed(self) -> None:
        """When nothing fails, every success() and always() job runs, failure() is skipped."""
        results = simulate(load_workflow(self.WORKFLOW, "w"), {})
        assert results == {
            "partition": S,
            "install": S,
            "configure": S,
            "report": S,
            "rescue": K,
            "optional": S,
            "after-optional": S,
        }

    def test_failure_skips_transitively_and_runs_rescue(self) -> None:
        """A failed first job skips its chain; always() and the failure() rescue still run."""
        results = simulate(load_workflow(self.WORKFLOW, "w"), {"partition": F})
        assert results == {
            "partition": F,
            "install": K,
            "configure": K,
            "report": S,
            "rescue": S,
            "optional": K,
            "after-optional": K,
        }

    def test_continue_on_error_does_not_stop_the_rest(self) -> None:
        """A failing continue-on-error job is recorded as failed-continued; later jobs run."""
        results = simulate(load_workflow(self.WORKFLOW, "w"), {"optional": F})
        assert results["optional"] == C
        assert results["after-optional"] == S
        assert results["rescue"] == K


class TestEnvironment:
    """Layering: workflow < job < container < overrides < IGUANA=true, then redaction."""

    TEXT = """\
env: {A: workflow, B: workflow, C: workflow, D: workflow, IGUANA: 'no'}
public-env: [A]
jobs:
  j:
    env: {B: job, C: job, D: job}
    container:
      image: x
      env: {C: container, D: container}
"""

    def test_layers(self) -> None:
        """Each layer wins over the one before; IGUANA=true always wins."""
        workflow = load_workflow(self.TEXT, "w")
        env = merged_env(workflow, workflow.jobs[0].container, {"D": "override", "IGUANA": "x"})
        assert env == {
            "A": "workflow",
            "B": "job",
            "C": "container",
            "D": "override",
            "IGUANA": "true",
        }

    def test_redact(self) -> None:
        """Only public names and IGUANA keep their values; the rest become ***."""
        workflow = load_workflow(self.TEXT, "w")
        env = merged_env(workflow, workflow.jobs[0].container, {})
        assert redact(env, workflow.public_env) == {
            "A": "workflow",
            "B": "***",
            "C": "***",
            "D": "***",
            "IGUANA": "true",
        }
