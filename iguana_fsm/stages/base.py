"""What every stage gets: one BootContext. A stage is ``run(ctx) -> trigger name``."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from iguana_fsm.cmdline import BootConfig
from iguana_fsm.engine.base import Engine
from iguana_fsm.host import Host
from iguana_fsm.paths import Paths
from iguana_fsm.record import BootRecord
from iguana_fsm.workflow.model import Job, Workflow
from iguana_fsm.workflow.plan import run_order


class SourceKind(enum.StrEnum):
    """Where the workflow comes from (the locate stage's choice)."""

    URL = "url"
    FILE = "file"
    CONTAINERS = "containers"
    BUNDLED = "bundled"


@dataclass(frozen=True)
class WorkflowSource:
    """What locate hands to fetch: the kind of source and its location (a URL or a path), or
    the images of ``rd.iguana.containers``."""

    kind: SourceKind
    location: str
    images: tuple[str, ...] = ()


@dataclass
class BootContext:
    """Everything a stage may use; stages share data only through ``record`` and ``workflow``.

    ``log`` is a structlog logger (its readable lines go to ``console`` too); ``progress``
    writes one line to ``/iguana/progress``; ``save`` checkpoints the record now (stages call
    it after a change worth keeping mid-state, e.g. a job that finished, so that resume does
    not repeat it).
    """

    config: BootConfig
    paths: Paths
    engine: Engine
    host: Host
    record: BootRecord
    log: Any
    progress: Callable[[str], None]
    save: Callable[[], None]
    interactive: bool = False
    console: IO[str] = field(default_factory=lambda: sys.stderr)
    workflow: Workflow | None = None
    workflow_text: bytes | None = None
    source: WorkflowSource | None = None
    cmdline_errors: list[str] = field(default_factory=list)
    """Bad ``rd.iguana.`` values, collected by the session; locate fails the boot on them."""
    _order: tuple[Workflow, list[Job]] | None = field(default=None, repr=False)
    _places: dict[str, int] = field(default_factory=dict, repr=False)

    def run_order(self) -> list[Job]:
        """The workflow's jobs in the order they run, worked out once per workflow (the job
        loop asks for it at every job)."""
        workflow = self.need_workflow()
        if self._order is None or self._order[0] is not workflow:
            self._order = (workflow, run_order(workflow))
            self._places = {job.id: n for n, job in enumerate(self._order[1], 1)}
        return self._order[1]

    def place(self, job_id: str) -> dict[str, int]:
        """``{"n": N, "of": M}``: the job is the N-th of M in run order (log fields, so that
        the console can say "job N/M")."""
        total = len(self.run_order())
        return {"n": self._places.get(job_id, 0), "of": total}

    def need_workflow(self) -> Workflow:
        """The workflow fetched in an earlier state (a programming error when absent)."""
        if self.workflow is None:
            raise RuntimeError("no workflow in context: fetch has not run")
        return self.workflow


Stage = Callable[[BootContext], str]
