"""The boot as a state machine: states and transitions declared once, no I/O here.

Order of a healthy boot: locate, fetch, verify, then for each job that runs its services and the
job itself (``next_job`` loops back), then mount and one of the three endings. Any working state can
``fail``; ``failed`` leads to ``rescue``. ``kexec`` falls back to ``reboot``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transitions import EventData

WORK_STATES = ("locate", "fetch", "verify", "services", "jobs", "mount")
ENDINGS = ("switch_root", "kexec", "reboot")
FAILURE_STATES = ("failed", "rescue")
STATES = WORK_STATES + ENDINGS + FAILURE_STATES
FINAL_STATES = (*ENDINGS, "rescue")
"""States whose stage runs once and ends the boot (kexec may still fall back to reboot)."""

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "located", "source": "locate", "dest": "fetch"},
    {"trigger": "fetched", "source": "fetch", "dest": "verify"},
    {"trigger": "next_job", "source": ["verify", "jobs"], "dest": "services"},
    {"trigger": "services_up", "source": "services", "dest": "jobs"},
    {"trigger": "jobs_done", "source": ["verify", "jobs"], "dest": "mount"},
    {"trigger": "choose_switch_root", "source": "mount", "dest": "switch_root"},
    {"trigger": "choose_kexec", "source": "mount", "dest": "kexec"},
    {"trigger": "choose_reboot", "source": "mount", "dest": "reboot"},
    {"trigger": "kexec_failed", "source": "kexec", "dest": "reboot"},
    {"trigger": "fail", "source": list(WORK_STATES + ENDINGS), "dest": "failed"},
    {"trigger": "rescue", "source": "failed", "dest": "rescue"},
]

END = ""
"""What a final state's stage returns when the boot is over and no trigger follows."""


class BootModel:
    """The object the machine drives; transitions adds ``state`` and ``trigger(name)``."""

    state: str

    def fire(self, name: str) -> None:
        """Fire trigger ``name``; MachineError when the current state does not allow it."""
        getattr(self, "trigger")(name)  # noqa: B009 - added at run time by transitions


def build_machine(
    initial: str = "locate",
    on_transition: Callable[[EventData], None] | None = None,
) -> BootModel:
    """A model in state ``initial`` whose every transition calls ``on_transition``."""
    if initial not in STATES:
        raise ValueError(f"unknown state {initial!r}")
    # imported here: ``iguana status`` reads the state names above without the machine library
    from transitions import Machine

    model = BootModel()
    callbacks: dict[str, Any] = {}
    if on_transition is not None:
        callbacks["after_state_change"] = on_transition
    Machine(
        model=model,
        states=list(STATES),
        transitions=TRANSITIONS,
        initial=initial,
        auto_transitions=False,
        send_event=True,
        **callbacks,
    )
    return model


def triggers_from(state: str) -> list[str]:
    """The triggers that leave ``state``, in declaration order."""
    names: list[str] = []
    for transition in TRANSITIONS:
        sources = transition["source"]
        if (state == sources or state in sources) and transition["trigger"] not in names:
            names.append(transition["trigger"])
    return names
