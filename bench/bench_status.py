"""What a look from the rescue shell costs: ``iguana status``, ``iguana validate`` and
``iguana schema`` as new processes, against ``python -c pass`` of the same interpreter, measured
in the same run. The finished boot ``status`` reads is a sandbox boot of three jobs by the unit
harness (the real stages over a FakeEngine), so no podman is needed.

``python bench/bench_status.py [--rounds R] [--baseline TREE] [--initrd-python PATH]``: the
medians of R runs of each command, wall time and CPU time (the ratios by CPU time hold best on
a busy machine); with a baseline (``git archive`` of an older commit unpacked in TREE) its
verbs run in the same rounds, each tree reading a boot its own code wrote. The issue's target
is ``iguana status`` at most 2x ``python -c pass``.

Two tables, each against its own ``python -c pass``: this environment's interpreter (a venv:
its start-up hooks, the editable-install finder, import pathlib, re and urllib.parse before
any command), and the initrd's (``--initrd-python``, default ``/usr/bin/python3``) as
``python -I -S``, with the tree and this environment's site-packages put on the path by the
command itself: no site hooks, no .pth files, the nearer figure for a rescue shell. Each tree
is compiled to byte code first, by the interpreter that runs it (the initrd carries byte code):
the figures are of running, not of compiling, whatever PYTHONDONTWRITEBYTECODE says.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)

WORKFLOW = """\
name: status bench
jobs:
  first: {container: {image: registry.example/first:1}}
  second: {needs: first, container: {image: registry.example/second:1}}
  third: {needs: second, container: {image: registry.example/third:1}}
"""

BOOT = (
    "import sys; from pathlib import Path; sys.path.insert(0, {tree!r}); "
    "from tests.unit.boot_harness import Boot; "
    "raise SystemExit(Boot(Path({top!r}), {workflow!r}).run())"
)
"""A sandbox boot by a tree's own unit harness: its checkpoint is in that tree's format."""

IGUANA = (
    "import sys; sys.path[:0] = [{tree!r}, *{extra!r}]; sys.argv[0] = 'iguana'; "
    "from iguana_fsm import cli; raise SystemExit(cli.main(sys.argv[1:]))"
)
"""A tree's ``iguana``: its package first on the path (then ``extra``: site-packages when the
interpreter reads no site)."""


def seconds(command: list[str]) -> tuple[float, float]:
    """The wall time and the CPU time (user plus system, the child's own: what other load on a
    shared machine disturbs least) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def medians(commands: dict[str, list[str]], rounds: int) -> dict[str, tuple[float, float]]:
    """Each command's median wall and CPU seconds over ``rounds`` rounds, each round running
    every command once (the old and the new tree meet the same moments of load)."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            runs[name].append(seconds(command))
    return {
        name: (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
        for name, got in runs.items()
    }


def verbs(tree: str, top: str, label: str, python: list[str]) -> dict[str, list[str]]:
    """The commands to time for ``tree``, whose sandbox boot is made under ``top`` now;
    ``python``: the interpreter and its flags."""
    Path(top).mkdir()
    boot = BOOT.format(tree=tree, top=top, workflow=WORKFLOW)
    subprocess.run([sys.executable, "-c", boot], check=True, cwd=tree)
    extra = [sysconfig.get_paths()["purelib"]] if "-S" in python else []
    iguana = [*python, "-c", IGUANA.format(tree=tree, extra=extra)]
    return {
        f"iguana status{label}": [*iguana, "status", "--sandbox", top],
        f"iguana status --json{label}": [*iguana, "status", "--json", "--sandbox", top],
        f"iguana validate{label}": [*iguana, "validate", str(Path(top) / "workflow.yaml")],
        f"iguana schema{label}": [*iguana, "schema"],
    }


def compile_tree(tree: str, python: list[str]) -> None:
    """Byte code for ``tree``'s package, by ``python`` (it writes what it will read)."""
    package = str(Path(tree) / "iguana_fsm")
    subprocess.run(
        [*python, "-m", "compileall", "-q", package], check=True, stdout=subprocess.DEVNULL
    )


def measure(
    python: list[str], top: str, baseline: Path | None, rounds: int
) -> dict[str, tuple[float, float]]:
    """Each command's median wall and CPU seconds under ``python`` (the interpreter and its
    flags), the baseline's verbs first; the boots are made under ``top``."""
    commands = {"python -c pass": [*python, "-c", "pass"]}
    trees = [(str(baseline.resolve()), " (baseline)")] if baseline is not None else []
    trees.append((ROOT, ""))
    for n, (tree, label) in enumerate(trees):
        compile_tree(tree, python)
        commands.update(verbs(tree, str(Path(top) / str(n)), label, python))
    return medians(commands, rounds)


def report(title: str, took: dict[str, tuple[float, float]]) -> None:
    """One table: each command's medians and its ratios to ``python -c pass``."""
    wall_base, cpu_base = took["python -c pass"]
    print(f"{title}\n{'command':<35} {'wall ms':>8} {'ratio':>6} {'CPU ms':>8} {'ratio':>6}")
    for name, (wall, cpu) in took.items():
        print(
            f"{name:<35} {wall * 1000:>8.1f} {wall / wall_base:>6.2f} {cpu * 1000:>8.1f} "
            f"{cpu / cpu_base:>6.2f}"
        )
    for label in (" (baseline)", ""):
        if f"iguana status{label}" in took:
            wall, cpu = took[f"iguana status{label}"]
            print(
                f"iguana status{label} / python -c pass: {wall / wall_base:.2f}x wall, "
                f"{cpu / cpu_base:.2f}x CPU ({title.split(':')[0]}; target at most 2x)"
            )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline", type=Path, metavar="TREE", help="an older source tree")
    parser.add_argument(
        "--initrd-python",
        default="/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
        metavar="PATH",
        help="the interpreter of the initrd-like table (run as python -I -S)",
    )
    args = parser.parse_args(argv)
    modes = {
        f"venv: {sys.executable}": [sys.executable],
        f"initrd-like: {args.initrd_python} -I -S": [args.initrd_python, "-I", "-S"],
    }
    with tempfile.TemporaryDirectory(prefix="iguana-bench-") as top:
        for n, (title, python) in enumerate(modes.items()):
            where = Path(top) / str(n)
            where.mkdir()
            report(title, measure(python, str(where), args.baseline, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
