"""What Iguana's own orchestration costs per job, without containers: the unit harness (the
real stages, runner, session and checkpoint store over a FakeEngine that runs nothing) boots a
workflow of N trivial jobs in a sandbox under /tmp, for N = 10, 100 and 1,000, in the same run.
Prints the total and per-job time for each N side by side, and the ratio of the per-job cost at
the largest N to the one at the smallest: a checkpoint whose cost grew with the jobs already
done shows here as a ratio far above 1.

``python bench/bench_orchestration.py [--jobs 10,100,1000] [--rounds R]``: the median of R
rounds for each N. Every transition is still written durably (fsync) to the sandbox's state.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The unit harness is the fake-engine boot the unit tests use; the bench reuses it as it is.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit.boot_harness import Boot


def workflow(jobs: int) -> str:
    """N jobs, each needing the one before it, each its own image."""
    lines = ["name: orchestration bench", "jobs:"]
    for n in range(jobs):
        lines.append(f"  j{n}:")
        if n:
            lines.append(f"    needs: j{n - 1}")
        lines.append(f"    container: {{image: registry.example/j{n}:1}}")
    return "\n".join(lines) + "\n"


def one_boot(jobs: int) -> float:
    """Seconds one sandbox boot of ``jobs`` jobs takes, from run() to its ending."""
    with tempfile.TemporaryDirectory(prefix="iguana-bench-") as top:
        boot = Boot(Path(top), workflow(jobs))
        started = time.perf_counter()
        code = boot.run()
        took = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"the {jobs}-job boot exited {code}: {boot.console.getvalue()}")
        return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="10,100,1000", help="comma-separated job counts")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    counts = [int(count) for count in args.jobs.split(",")]
    totals: dict[int, float] = {}
    for count in counts:
        totals[count] = statistics.median(one_boot(count) for _ in range(args.rounds))
    print(f"{'jobs':>8} {'total s':>10} {'per job ms':>12}")
    for count in counts:
        print(f"{count:>8} {totals[count]:>10.3f} {totals[count] / count * 1000:>12.2f}")
    small, large = counts[0], counts[-1]
    ratio = (totals[large] / large) / (totals[small] / small)
    print(f"per-job cost at {large} jobs / at {small} jobs: {ratio:.2f}x (within 2x: {ratio <= 2})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
