"""What a look from the rescue shell costs: ``iguana status``, ``iguana validate`` and
``iguana schema`` as new processes, against ``python -c pass`` of the same interpreter, measured
in the same run. The finished boot ``status`` reads is a sandbox boot of three jobs by the unit
harness (the real stages over a FakeEngine), so no podman is needed.

``python bench/bench_status.py [--rounds R]``: the median of R runs of each command. The issue's
target is ``iguana status`` at most 2x ``python -c pass``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The unit harness boots the sandbox that status reads.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit.boot_harness import Boot

WORKFLOW = """\
name: status bench
jobs:
  first: {container: {image: registry.example/first:1}}
  second: {needs: first, container: {image: registry.example/second:1}}
  third: {needs: second, container: {image: registry.example/third:1}}
"""


def median_seconds(command: list[str], rounds: int) -> float:
    """The median wall time of ``rounds`` runs of ``command``, which must exit 0."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="iguana-bench-") as top:
        boot = Boot(Path(top), WORKFLOW)
        if boot.run() != 0:
            raise SystemExit(f"the sandbox boot failed: {boot.console.getvalue()}")
        iguana = [python, "-m", "iguana_fsm"]
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "iguana status": [*iguana, "status", "--sandbox", top],
            "iguana status --json": [*iguana, "status", "--json", "--sandbox", top],
            "iguana validate": [*iguana, "validate", str(boot.workflow_file)],
            "iguana schema": [*iguana, "schema"],
        }
        took = {name: median_seconds(command, args.rounds) for name, command in commands.items()}
    base = took["python -c pass"]
    print(f"{'command':<24} {'median ms':>10} {'x python -c pass':>17}")
    for name, seconds in took.items():
        print(f"{name:<24} {seconds * 1000:>10.1f} {seconds / base:>17.2f}")
    ratio = took["iguana status"] / base
    print(f"iguana status / python -c pass: {ratio:.2f}x (target at most 2x: {ratio <= 2})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
