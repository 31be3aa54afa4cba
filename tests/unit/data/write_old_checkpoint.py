"""Writes the checkpoint an older Iguana leaves after a failed boot, with that version's own code.

Run from a tree of the older commit (its iguana_fsm and tests/unit), for example::

    git archive b246d0b iguana_fsm tests | tar -x -C /tmp/old
    cd /tmp/old && PYTHONPATH=. python /path/to/write_old_checkpoint.py BOX WORKFLOW OUT

The boot runs through that version's unit harness (real stages, its FakeEngine): job
``install`` of ``checkpoint-v1-workflow.yaml`` exits 3, ``cleanup`` runs, ``finish`` is skipped,
the boot fails into rescue; OUT receives the checkpoint it wrote. This is how the
``checkpoint-v2-*.json`` files beside it were made.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.unit.boot_harness import Boot  # the older commit's


def main(box: str, workflow: str, out: str) -> int:
    """Boot in ``box`` and copy its checkpoint to ``out``; the boot's exit code."""
    top = Path(box)
    top.mkdir(parents=True, exist_ok=True)
    boot = Boot(top, Path(workflow).read_text(encoding="utf-8"))
    boot.engine.exit_codes["registry.example/install:1"] = 3
    boot.engine.outputs["registry.example/install:1"] = ["copying", "no space left"]
    code = boot.run()
    shutil.copyfile(boot.paths.state, out)
    return code


if __name__ == "__main__":
    sys.exit(0 if main(*sys.argv[1:4]) == 6 else 1)
