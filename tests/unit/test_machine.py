"""The boot state machine: its states, transitions and diagrams."""

from __future__ import annotations

from pathlib import Path

import pytest
from transitions import MachineError

from iguana_fsm import diagram
from iguana_fsm.machine import (
    ENDINGS,
    FINAL_STATES,
    STATES,
    TRANSITIONS,
    WORK_STATES,
    build_machine,
    triggers_from,
)

DIAGRAMS = Path(__file__).resolve().parents[2] / "diagrams"


class TestMachine:
    @pytest.mark.parametrize(
        ("source", "trigger", "dest"),
        [
            (source, t["trigger"], t["dest"])
            for t in TRANSITIONS
            for source in ([t["source"]] if isinstance(t["source"], str) else t["source"])
        ],
    )
    def test_every_declared_transition_moves_to_its_destination(
        self, source: str, trigger: str, dest: str
    ) -> None:
        """Each (source, trigger) pair of the table lands in its declared destination."""
        model = build_machine(source)
        model.fire(trigger)
        assert model.state == dest

    @pytest.mark.parametrize("state", WORK_STATES + ENDINGS)
    def test_every_working_state_can_fail(self, state: str) -> None:
        """fail is allowed from every working state and ending, and leads to failed."""
        model = build_machine(state)
        model.fire("fail")
        assert model.state == "failed"

    @pytest.mark.parametrize("state", ["switch_root", "reboot", "rescue"])
    def test_final_states_have_no_way_on(self, state: str) -> None:
        """A finished boot cannot be moved on by a work trigger."""
        model = build_machine(state)
        with pytest.raises(MachineError):
            model.fire("located")

    def test_jobs_loop_back_to_services(self) -> None:
        """A job's end leads to the next job's services, which is how services run per job."""
        assert triggers_from("jobs") == ["next_job", "jobs_done", "fail"]
        model = build_machine("jobs")
        model.fire("next_job")
        assert model.state == "services"

    def test_every_state_is_reachable_from_locate(self) -> None:
        """No state is declared that no path reaches."""
        seen, todo = {"locate"}, ["locate"]
        while todo:
            state = todo.pop()
            for t in TRANSITIONS:
                sources = [t["source"]] if isinstance(t["source"], str) else t["source"]
                if state in sources and t["dest"] not in seen:
                    seen.add(t["dest"])
                    todo.append(t["dest"])
        assert seen == set(STATES)

    def test_every_non_final_state_has_a_way_out(self) -> None:
        """Only the final states lack triggers of their own (kexec keeps its fallback)."""
        for state in STATES:
            if state not in FINAL_STATES:
                assert triggers_from(state), state

    def test_unknown_initial_state_is_refused(self) -> None:
        """Restoring a machine into a state that does not exist is an error."""
        with pytest.raises(ValueError, match="unknown state"):
            build_machine("nowhere")


class TestDiagrams:
    @pytest.mark.parametrize("fmt", sorted(diagram.FILES))
    def test_committed_diagrams_are_current(self, fmt: str) -> None:
        """diagrams/ holds exactly what `iguana diagram --output diagrams` renders now."""
        committed = (DIAGRAMS / diagram.FILES[fmt]).read_text(encoding="utf-8")
        assert committed == diagram.render(fmt), "run: iguana diagram --output diagrams"

    def test_diagram_names_every_transition(self) -> None:
        """Every trigger of the table appears in the mermaid text."""
        text = diagram.render("mermaid")
        for t in TRANSITIONS:
            assert f": {t['trigger']}" in text
