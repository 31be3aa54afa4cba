"""What a real boot costs outside its containers: the offline boot of the QEMU test (TCG, the
systemd initrd, two installer jobs from the image source disk) with this tree's initrd and with a
baseline tree's (``git archive`` of an older commit unpacked in TREE), booted in alternating
rounds in the same run, from the same kernel and the same image source disk. Prints, for each
tree, the medians of Iguana's time from its start to its finish on the console, the part outside
the job containers, and where that part goes (preparing podman and the image source, each state,
the podman service's start, the pulls, and the interpreter's start, imports and exit outside any
state), then the ratio of the two. From this round on Iguana's interpreter starts and imports
while the initrd is prepared (iguana-boot.sh, ``iguana_fsm/prepared.py``): in this tree's column
"preparing" holds that overlap, and "outside any state" only what comes after it.

``python bench/bench_boot.py --baseline TREE [--rounds R]``: needs what ``make boot-test``
needs (QEMU, dracut, podman, docker-registry); the kernel comes from the test cache
(``tests/e2e/bootkit.py``), the initrds and disks are built in a temp dir that is removed at the
end. Each initrd carries its own tree's Iguana with this tree's virtualenv's libraries.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e import bootkit

COMMAND_LINE = (
    f"console=ttyS0 root=iguana panic=1 rd.shell=0 rd.iguana.images=LABEL={bootkit.SOURCE_LABEL} "
    "rd.iguana.control_url=/run/iguana/images/bench.yaml"
)
"""The offline boot of ``tests/e2e/test_boot.py``."""


@dataclass
class Tree:
    """One tree's initrd and what its boots measured."""

    name: str
    source: Path
    initrd: Path | None = None
    figures: list[dict[str, Any]] = field(default_factory=list)


def build_initrd(tree: Path, output: Path, kernel: bootkit.Kernel) -> Path:
    """The offline systemd initrd of ``tree`` by its own ``dracut/build-initrd.sh``, with
    this tree's virtualenv for the libraries (a baseline from ``git archive`` has none)."""
    site = next((bootkit.REPO / ".venv" / "lib").glob("python3*/site-packages"))
    argv = [str(tree / "dracut" / "build-initrd.sh"), "--kver", kernel.release]
    argv += ["--kmoddir", str(kernel.moddir), "--drivers", bootkit.DRIVERS, "--offline"]
    env = {**os.environ, "TMPDIR": str(output.parent), "IGUANA_PYTHONPATH": f"{tree}:{site}"}
    bootkit.run([*argv, str(output)], env=env)
    return output


def source_disk(work: Path, kernel: bootkit.Kernel) -> Path:
    """The image source tree of the boot test (its conftest's recipe): the installer image's
    registry store, its podman store when the kit makes one (images used in place), and the
    workflow of the test's offline boot as ``bench.yaml`` (pinned when the image can be used in
    place: a tree without that feature pulls it by digest through the registry mirror)."""
    stores: Any = bootkit.registry_store(work / "store", kernel.release)
    tree = work / "tree"
    tree.mkdir()
    shutil.copytree(getattr(stores, "registry", stores), tree / "registry")
    containers = getattr(stores, "containers", None)
    steps = ("partition", "mountlist")
    if containers is None:
        workflow = bootkit.workflow_yaml(*steps)
    else:
        shutil.copytree(containers, tree / "containers", symlinks=True)
        pinned_workflow: Any = bootkit.workflow_yaml  # takes image= in a kit with the store
        workflow = pinned_workflow(*steps, image=stores.pinned)
    shutil.rmtree(work / "store")
    (tree / "bench.yaml").write_text(workflow)
    return tree


def uptime(console: str, pattern: str) -> float:
    """The uptime printed on the console line that matches ``pattern``."""
    found = re.search(pattern + r".*?uptime ([0-9.]+) s", console)
    if not found:
        raise SystemExit(f"no {pattern!r} with an uptime on the console:\n{console[-3000:]}")
    return float(found.group(1))


def boot_once(tree: Tree, kernel: bootkit.Kernel, source: Path, work: Path) -> dict[str, Any]:
    """One offline boot with ``tree``'s initrd: the figures of its console and of the checkpoint
    copied into the installed system (in switch_root, before the service's stop and that
    state's own time, which are counted outside any state here)."""
    assert tree.initrd is not None
    work.mkdir(parents=True)
    disk = bootkit.ext4_image(work / "source.img", 64, bootkit.SOURCE_LABEL, source)
    target = bootkit.blank_image(work / "target.img", 64)
    result = bootkit.boot(kernel, tree.initrd, [disk, target], COMMAND_LINE, work / "serial.log")
    if result.returncode != 0 or bootkit.MARKER not in result.console:
        raise SystemExit(f"{tree.name}: the boot failed:\n{result.console[-4000:]}")
    record = json.loads(
        bootkit.read_file(target, "/var/log/iguana/state", bootkit.partition_offset(target, 1))
    )
    started = uptime(result.console, "iguana: starting")
    prepared = uptime(result.console, "iguana: prepared")
    finished = uptime(result.console, "iguana: finished with exit code 0")
    timings = record["timings"]
    in_containers = sum(phases["run"] for phases in timings["jobs"].values())
    states = timings["states"]
    return {
        "iguana": finished - started,
        "outside containers": finished - started - in_containers,
        "preparing (podman-setup, image source)": prepared - started,
        **{f"state {name}": seconds for name, seconds in states.items()},
        "  of which the podman service waited for": timings.get("engine", {}).get("waited", 0.0),
        "  of which pulls": sum(timings.get("pulls", {}).values()),
        "  of which in job containers": in_containers,
        "outside any state (interpreter, imports, exit)": finished
        - prepared
        - sum(states.values()),
        "podman service start (from its spawn)": timings.get("engine", {}).get("start", 0.0),
        "uptime at Iguana's start (the same for both: udev, units)": started,
        "QEMU run": result.seconds,
    }


def main(argv: list[str] | None = None) -> int:
    """Build both initrds and the source disk, boot each tree in alternating rounds, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, metavar="TREE")
    parser.add_argument("--rounds", type=int, default=2, help="boots of each tree (default 2)")
    args = parser.parse_args(argv)
    trees = [
        Tree(f"baseline {args.baseline}", args.baseline.resolve()),
        Tree("this tree", bootkit.REPO),
    ]
    kernel = bootkit.debian_kernel()
    work = Path(tempfile.mkdtemp(prefix="igboot-"))
    try:
        source = source_disk(work / "source", kernel)
        for index, tree in enumerate(trees):
            (work / f"initrd{index}").mkdir()
            tree.initrd = build_initrd(tree.source, work / f"initrd{index}" / "initrd.img", kernel)
        for number in range(args.rounds):
            for index, tree in enumerate(trees):
                figures = boot_once(tree, kernel, source, work / f"boot{number}-{index}")
                tree.figures.append(figures)
                print(f"  round {number + 1}, {tree.name}: {figures['iguana']:.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(trees, args.rounds)
    return 0


def report(trees: list[Tree], rounds: int) -> None:
    """Each figure's median for both trees side by side, then the ratios."""
    print(
        f"bench_boot: the offline QEMU boot (TCG, systemd initrd, two installer jobs), median of "
        f"{rounds} alternating rounds; seconds"
    )
    names = list(dict.fromkeys(name for tree in trees for each in tree.figures for name in each))
    print(f"  {'':<48} {'baseline':>9} {'this tree':>10}")
    medians: list[dict[str, float]] = []
    for tree in trees:
        medians.append(
            {
                name: statistics.median(each.get(name, 0.0) for each in tree.figures)
                for name in names
            }
        )
    for name in names:
        print(f"  {name:<48} {medians[0][name]:>9.2f} {medians[1][name]:>10.2f}")
    for name in ("iguana", "outside containers"):
        print(f"  ratio this tree/baseline, {name}: {medians[1][name] / medians[0][name]:.2f}")
    print("  (target: outside containers at most 0.5)")


if __name__ == "__main__":
    raise SystemExit(main())
