"""A BootContext for one stage on sandbox paths, over a FakeHost and a FakeEngine, with the
checkpoint saved to the sandbox's state file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import structlog
from structlog.testing import LogCapture

from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.cmdline import BootConfig
from iguana_fsm.paths import Paths
from iguana_fsm.record import BootRecord
from iguana_fsm.stages.base import BootContext
from tests.unit.fake_engine import FakeEngine
from tests.unit.fake_host import FakeHost


def stage_context(
    top: Path, host: FakeHost, state: str, sandbox: bool = True, **config: Any
) -> tuple[BootContext, LogCapture]:
    """The context and the capture of its log events; ``sandbox=False`` keeps the paths under
    ``top`` but makes the stages behave as in an initrd."""
    paths = Paths.for_sandbox(top)
    if not sandbox:
        paths = paths._replace(sandbox=False)
    paths.iguana.mkdir(parents=True, exist_ok=True)
    record = BootRecord(run_id="0123456789abcdef", state=state, sandbox=sandbox)
    store = CheckpointStore(paths.state)
    sink = LogCapture()
    ctx = BootContext(
        config=BootConfig(**config),
        paths=paths,
        engine=FakeEngine(),
        host=host,
        record=record,
        log=structlog.wrap_logger(None, processors=[sink]),
        progress=lambda _line: None,
        save=lambda: store.save(record),
        console=io.StringIO(),
    )
    return ctx, sink
