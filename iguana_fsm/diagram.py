"""``iguana diagram``: the boot machine as mermaid and graphviz DOT text.

The diagram extension of transitions (and the graphviz package for DOT) are imported only here,
only when asked for, so the initrd does not need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from iguana_fsm.machine import STATES, TRANSITIONS

TITLE = "Iguana boot"
FILES = {"mermaid": "boot.mmd", "dot": "boot.dot"}


def render(fmt: str) -> str:
    """The machine in ``fmt`` (mermaid or dot), ending with a newline."""
    from transitions.extensions.diagrams import GraphMachine

    engine: Literal["mermaid", "graphviz"] = "mermaid" if fmt == "mermaid" else "graphviz"

    class Model:
        pass

    model: Any = Model()
    GraphMachine(
        model=model,
        states=list(STATES),
        transitions=TRANSITIONS,
        initial="locate",
        auto_transitions=False,
        graph_engine=engine,
        show_conditions=False,
        title=TITLE,
    )
    graph = model.get_graph()
    text = str(graph.draw(None) if fmt == "mermaid" else graph.source)
    return text.rstrip("\n") + "\n"


def write_all(directory: Path) -> list[Path]:
    """Write every format into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt, name in FILES.items():
        path = directory / name
        path.write_text(render(fmt), encoding="utf-8")
        written.append(path)
    return written
