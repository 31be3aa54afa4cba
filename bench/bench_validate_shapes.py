"""Whether ``iguana validate`` stays linear in the size of the file for every shape of input:
each shape is generated at N and at 10N units (jobs, needs, services, env entries, volumes,
problems), validated in the same run, and the time per unit at 10N is divided by the time per
unit at N. A ratio near 1 is linear; a quadratic step shows as a ratio near 10.

``python bench/bench_validate_shapes.py [N] [--repeats R]`` (default N=1000, R=3: the least CPU
time of R runs). Exits 1 when a shape's ratio is 3 or more.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iguana_fsm.workflow.validator import validate
from tests.support.workflow_shapes import needs_chain

IMAGE = "registry.example.com/step:1"
LIMIT = 3.0
"""A ratio of time per unit at 10N over time per unit at N this high is not linear."""


def independent(count: int) -> str:
    """``count`` jobs that need nothing."""
    return "jobs:\n" + "".join(f"  j{i}: {{container: {{image: {IMAGE}}}}}\n" for i in range(count))


def fan_in(count: int) -> str:
    """``count`` jobs, and a last one that needs every one of them."""
    needs = ", ".join(f"j{i}" for i in range(count))
    return independent(count) + f"  last: {{needs: [{needs}], container: {{image: {IMAGE}}}}}\n"


def fan_out(count: int) -> str:
    """``count`` jobs that all need the first."""
    lines = ["jobs:", f"  j0: {{container: {{image: {IMAGE}}}}}"]
    lines += [f"  j{i}: {{needs: j0, container: {{image: {IMAGE}}}}}" for i in range(1, count)]
    return "\n".join(lines) + "\n"


def dense(count: int, width: int = 5) -> str:
    """``count`` jobs, each needing up to ``width`` jobs before it (a wide lattice)."""
    lines = ["jobs:"]
    for i in range(count):
        needs = ", ".join(f"j{n}" for n in range(max(0, i - width), i))
        lines.append(f"  j{i}: {{needs: [{needs}], container: {{image: {IMAGE}}}}}")
    return "\n".join(lines) + "\n"


def cycle(count: int) -> str:
    """``count`` jobs in one loop of needs (invalid: the cycle is reported)."""
    lines = ["jobs:"]
    lines += [
        f"  j{i}: {{needs: j{(i + 1) % count}, container: {{image: {IMAGE}}}}}"
        for i in range(count)
    ]
    return "\n".join(lines) + "\n"


def missing_needs(count: int) -> str:
    """``count`` jobs each needing a job that does not exist (``count`` problems)."""
    lines = ["jobs:"]
    lines += [f"  j{i}: {{needs: gone{i}, container: {{image: {IMAGE}}}}}" for i in range(count)]
    return "\n".join(lines) + "\n"


def services(count: int) -> str:
    """One job with ``count`` services."""
    items = "".join(f"      s{i}: {{image: {IMAGE}}}\n" for i in range(count))
    return f"jobs:\n  a:\n    container: {{image: {IMAGE}}}\n    services:\n{items}"


def env(count: int) -> str:
    """One job with ``count`` environment entries, public-env naming each."""
    names = ", ".join(f"V{i}" for i in range(count))
    items = "".join(f"    V{i}: value-{i}\n" for i in range(count))
    return f"public-env: [{names}]\nenv:\n{items}jobs:\n  a: {{container: {{image: {IMAGE}}}}}\n"


def volumes(count: int) -> str:
    """One job with ``count`` volumes."""
    items = "".join(f"        - vol{i}:/mnt/v{i}\n" for i in range(count))
    return f"jobs:\n  a:\n    container:\n      image: {IMAGE}\n      volumes:\n{items}"


SHAPES: dict[str, Callable[[int], str]] = {
    "independent jobs": independent,
    "needs chain": needs_chain,
    "fan-in (one job needs all)": fan_in,
    "fan-out (all need one)": fan_out,
    "dense needs (5 each)": dense,
    "one cycle through all": cycle,
    "a missing need per job": missing_needs,
    "services of one job": services,
    "env entries": env,
    "volumes of one job": volumes,
}


def best_of(repeats: int, function: Callable[[], object]) -> float:
    """The least CPU time of ``repeats`` runs, in seconds: this process's own time, which the
    other load of a shared machine disturbs far less than the wall clock."""
    times = []
    for _ in range(repeats):
        began = time.process_time()
        function()
        times.append(time.process_time() - began)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("units", nargs="?", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    small, large = args.units, args.units * 10
    print(
        f"{'shape':<28} {'bytes at 10N':>12} {'problems':>8} {'CPU ms, N':>10} {'at 10N':>9} "
        f"{'ratio':>6}"
    )
    worst = 0.0
    for name, shape in SHAPES.items():
        took = {}
        for count in (small, large):
            text = shape(count)
            took[count] = best_of(args.repeats, lambda text=text: validate(text, "shape.yaml"))
        ratio = (took[large] / large) / (took[small] / small)
        worst = max(worst, ratio)
        text = shape(large)
        problems = len(validate(text, "shape.yaml"))
        print(
            f"{name:<28} {len(text):>12} {problems:>8} {took[small] * 1000:>10.1f} "
            f"{took[large] * 1000:>9.1f} {ratio:>6.2f}"
        )
    print(f"largest ratio (time per unit at {large} / at {small}): {worst:.2f}")
    return 1 if worst >= LIMIT else 0


if __name__ == "__main__":
    raise SystemExit(main())
