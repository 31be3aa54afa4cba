"""Builds sandboxed boots for unit tests: a Session over a FakeEngine with the real stages
(``default_stages()``), and simple doubles only where a stage must touch the machine (mount,
endings)."""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from iguana_fsm.checkpoint import BootRecord, CheckpointStore
from iguana_fsm.errors import IguanaError
from iguana_fsm.host import SandboxHost
from iguana_fsm.machine import END
from iguana_fsm.paths import Paths
from iguana_fsm.record import Ending, Handoff
from iguana_fsm.session import Options, Session
from iguana_fsm.stages import default_stages
from iguana_fsm.stages.base import BootContext, Stage
from tests.unit.fake_engine import FakeEngine


def fail_once(state: str, stage: Stage, error: IguanaError) -> Stage:
    """A stage that raises ``error`` the first time and behaves as ``stage`` afterwards."""
    calls = {"n": 0}

    def wrapped(ctx: BootContext) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise error
        return stage(ctx)

    return wrapped


class Boot:
    """One sandbox under ``top`` with a workflow file, a FakeEngine and a recording host."""

    def __init__(self, top: Path, workflow: str, cmdline: str = "") -> None:
        self.top = top
        self.paths = Paths.for_sandbox(top)
        self.workflow_file = top / "workflow.yaml"
        self.workflow_file.write_text(workflow, encoding="utf-8")
        self.cmdline = cmdline
        self.engine = FakeEngine()
        self.host = SandboxHost()
        self.console = io.StringIO()
        # the real stages, but a fixed decision where the machine would be mounted and left
        # (tests/unit/test_mount.py and test_endings.py test those stages over a FakeHost)
        self.stages: dict[str, Stage] = {**default_stages(), **ending()}
        self.visited: list[str] = []

    def session(self, workflow: str | None = None, fresh: bool = False) -> Session:
        stages = {name: self._tracked(name, stage) for name, stage in self.stages.items()}
        options = Options(
            paths=self.paths,
            cmdline=self.cmdline if workflow is not None else None,  # resume: the stored one
            workflow=workflow,
            interactive=False,
            fresh=fresh,
        )
        return Session(
            options,
            stages,
            lambda paths, run_id, config, log: self.engine,
            lambda paths: self.host,
            console=self.console,
        )

    def _tracked(self, name: str, stage: Stage) -> Stage:
        def run(ctx: BootContext) -> str:
            self.visited.append(name)
            return stage(ctx)

        return run

    def run(self) -> int:
        return self.session(str(self.workflow_file)).run()

    def resume(self) -> int:
        return self.session().resume()

    def record(self) -> BootRecord:
        return CheckpointStore(self.paths.state).load()

    def log_events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.paths.log.read_text().splitlines()]

    def replace(self, state: str, stage: Stage) -> None:
        self.stages[state] = stage

    def wrap(self, state: str, make: Callable[[Stage], Stage]) -> None:
        self.stages[state] = make(self.stages[state])


def boot_holding(top: Path, workflow: Path, checkpoint: Path) -> Boot:
    """A sandbox holding ``checkpoint`` (as an older Iguana left it), ``workflow`` and the
    command line a boot keeps, ready for ``resume``."""
    boot = Boot(top, workflow.read_text(encoding="utf-8"))
    boot.paths.state.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint, boot.paths.state)
    boot.paths.run.mkdir(parents=True, exist_ok=True)
    (boot.paths.run / "cmdline").write_text(f'"rd.iguana.control_url={boot.workflow_file}"')
    return boot


def ending(trigger: str = "choose_switch_root") -> Mapping[str, Stage]:
    """Doubles for mount and the endings: no devices, a fixed decision."""

    def mount(ctx: BootContext) -> str:
        ctx.record.handoff = Handoff(Ending(trigger.removeprefix("choose_")), "test")
        return trigger

    def done(ctx: BootContext) -> str:
        # a real ending marks the boot finished just before its hand-off (stages/endings.py)
        ctx.record.finished = time.time()
        ctx.save()
        return END

    return {"mount": mount, "switch_root": done, "kexec": done, "reboot": done}
