"""What a look from the rescue shell costs: ``iguana status``, ``iguana validate`` and
``iguana schema`` as new processes, against ``python -c pass`` of the same interpreter, measured
in the same run. The finished boot ``status`` reads is a sandbox boot of three jobs by the unit
harness (the real stages over a FakeEngine), so no podman is needed.

``python bench/bench_status.py [--rounds R] [--baseline TREE]``: the medians of R runs of each
command, wall time and CPU time (the ratios by CPU time hold best on a busy machine); with a
baseline (``git archive`` of an older commit unpacked in TREE) its verbs run in the same rounds,
each tree reading a boot its own code wrote. The issue's target is ``iguana status`` at most 2x
``python -c pass``.

``--isolated`` runs every command, ``python -c pass`` too, as ``python -I -S`` with the tree and
this environment's site-packages put on the path by the command itself: no site hooks (a venv's
editable-install finder alone imports pathlib, re and urllib.parse into ``python -c pass``, which
the initrd's interpreter, with no .pth files to read, does not); the nearer figure for a rescue
shell. ``--python PATH`` times another interpreter (the initrd's ``/usr/bin/python3``).
"""

from __future__ import annotations

import argparse
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


def median_seconds(command: list[str], rounds: int) -> tuple[float, float]:
    """The median wall time and the median CPU time (user plus system, the child's own: what
    other load on a shared machine disturbs least) of ``rounds`` runs of ``command``."""
    walls, cpus = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline", type=Path, metavar="TREE", help="an older source tree")
    parser.add_argument("--isolated", action="store_true", help="python -I -S, no site hooks")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to time")
    args = parser.parse_args(argv)
    python = [args.python, *(["-I", "-S"] if args.isolated else [])]
    with tempfile.TemporaryDirectory(prefix="iguana-bench-") as top:
        commands = {"python -c pass": [*python, "-c", "pass"]}
        if args.baseline is not None:
            baseline = str(args.baseline.resolve())
            commands.update(verbs(baseline, str(Path(top) / "old"), " (baseline)", python))
        commands.update(verbs(ROOT, str(Path(top) / "new"), "", python))
        took = {name: median_seconds(command, args.rounds) for name, command in commands.items()}
    wall_base, cpu_base = took["python -c pass"]
    print(f"{'command':<35} {'wall ms':>8} {'ratio':>6} {'CPU ms':>8} {'ratio':>6}")
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
                f"{cpu / cpu_base:.2f}x CPU (target at most 2x)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
