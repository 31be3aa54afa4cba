"""What Iguana costs per job: the same N trivial containers through ``iguana run --sandbox`` and
as plain ``podman run --rm`` calls, in the same run, on the same image, storage and
containers.conf, in alternating rounds. Prints the medians of both totals, the per-job times,
the per-job overhead and the ratio.

``python bench/bench_jobs.py [--jobs N] [--rounds R]``: needs podman, runc, docker-registry,
openssl and busybox-static (``make bench`` installs them). Everything lives in a temp dir under
/tmp that is removed at the end, registry and podman mounts included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The test support builds the images and runs the registry; the bench reuses it as it is.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iguana_fsm.engine.api import packaged_containers_conf
from iguana_fsm.paths import Paths
from tests.integration.trust_support import CertAuthority, unmount_under
from tests.support.images import build_image, busybox_rootfs_tar, push_image
from tests.support.podman_cli import PodmanCli
from tests.support.registry import Registry

SCRIPT = 'eval "${BENCH_SCRIPT:-true}"'
NEW_ROOT = (
    'mkdir -p "/iguana/root/lib/modules/$(uname -r)" && echo "/iguana/root /" >/iguana/mountlist'
)
"""The last job prepares a directory root, so that the boot reaches its ending."""


def workflow(image: str, jobs: int) -> dict[str, Any]:
    """N jobs in a chain, each running ``true`` in ``image``; the last also writes a mountlist."""
    document: dict[str, Any] = {"name": "bench-jobs", "jobs": {}}
    for number in range(1, jobs + 1):
        script = "true" if number < jobs else NEW_ROOT
        document["jobs"][f"job{number}"] = {
            "container": {"image": image, "env": {"BENCH_SCRIPT": script}}
        }
    return document


def run_iguana(
    top: Path, image: str, jobs: int, env: dict[str, str], tree: Path | None = None
) -> tuple[float, float, dict[str, Any]]:
    """``iguana run --sandbox`` on the N-job workflow (Iguana from ``tree`` when given, else
    from this one): wall seconds, the sum of the jobs' own durations as the checkpoint records
    them, and the checkpoint's timings (empty from a tree that records none)."""
    paths = Paths.for_sandbox(top)
    source = top / "workflow.yaml"
    source.write_text(yaml.safe_dump(workflow(image, jobs), sort_keys=False))
    command = [sys.executable, "-m", "iguana_fsm"]
    if tree is not None:
        env = {**env, "PYTHONPATH": str(tree)}
    began = time.monotonic()
    result = subprocess.run(
        [*command, "run", "--sandbox", str(top), "--workflow", str(source), "--batch"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    took = time.monotonic() - began
    if result.returncode != 0:
        raise SystemExit(f"iguana run failed ({result.returncode}): {result.stderr[-2000:]}")
    status = subprocess.run(
        [*command, "status", "--json", "--sandbox", str(paths.iguana.parent)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        check=False,
    )
    record = json.loads(status.stdout)
    inside = sum(job["finished"] - job["started"] for job in record["jobs"].values())
    return took, inside, record.get("timings", {})


def run_podman(podman: PodmanCli, image: str, iguana_dir: Path, jobs: int) -> float:
    """N ``podman run --rm`` calls with the flags Iguana gives a job: wall seconds."""
    began = time.monotonic()
    for _ in range(jobs):
        podman.run(
            "run",
            "--rm",
            "--privileged",
            "--network=host",
            "--volume=/dev:/dev",
            f"--volume={iguana_dir}:/iguana",
            "--env=IGUANA=true",
            "--env=BENCH_SCRIPT=true",
            image,
        )
    return time.monotonic() - began


def sandbox(top: Path, registry: Registry, ca: Path) -> Paths:
    """Sandbox paths whose trust config allows the bench repository and trusts the CA."""
    paths = Paths.for_sandbox(top)
    paths.config.mkdir(parents=True)
    (paths.config / "registries.conf").write_text(f"{registry.host}/bench\n")
    shutil.copyfile(ca, paths.config / "ca.pem")
    return paths


@dataclass
class Side:
    """One way of running the jobs: its wall times, the jobs' own times, its timings."""

    name: str
    totals: list[float] = field(default_factory=list)
    insides: list[float] = field(default_factory=list)
    timings: list[dict[str, Any]] = field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    """Set up registry and image, measure each side in alternating rounds, print medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10, help="containers per side (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, medians shown (default 3)")
    parser.add_argument("--keep-log", type=Path, metavar="FILE", help="copy iguana's last log")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="TREE",
        help="also run the iguana_fsm of another source tree (e.g. `git archive` of an older "
        "commit) in the same rounds: the old figures beside the new",
    )
    args = parser.parse_args(argv)
    # short: podman refuses a runroot path longer than 50 characters
    work = Path(tempfile.mkdtemp(prefix="igbench-", dir="/tmp"))
    env = {**os.environ, "CONTAINERS_CONF": str(packaged_containers_conf())}
    sides = [Side("iguana, this tree")]
    if args.baseline is not None:
        sides.insert(0, Side(f"iguana, baseline {args.baseline}"))
    podman_totals: list[float] = []
    load_before = os.getloadavg()[0]
    try:
        ca = CertAuthority.create(work / "ca")
        builder = PodmanCli(work / "build" / "root", work / "build" / "runroot", env)
        with Registry(work / "registry", tls=ca.server_cert(work / "tls"), ca=ca.cert) as registry:
            local = build_image(builder, "localhost/bench/true:1", SCRIPT, busybox_rootfs_tar(work))
            image = f"{registry.host}/bench/true:1"
            push_image(builder, local, image, tls_verify=False)
            builder.run("rmi", "--all", "--force")
            # the podman side: the storage of the first sandbox, with the image pulled once
            first = sandbox(work / "sb0", registry, ca.cert)
            podman = PodmanCli.for_paths(first, env)
            for number in range(args.rounds):
                for index, side in enumerate(sides):
                    tree = args.baseline if side is not sides[-1] else None
                    paths = (
                        first
                        if number == 0 and index == 0
                        else sandbox(work / f"sb{number}-{index}", registry, ca.cert)
                    )
                    total, inside, timings = run_iguana(
                        paths.iguana.parent, image, args.jobs, env, tree
                    )
                    side.totals.append(total)
                    side.insides.append(inside)
                    side.timings.append(timings)
                    if args.keep_log and tree is None:
                        shutil.copyfile(paths.log, args.keep_log)
                if number == 0:
                    # Iguana removed the image after its last job; podman gets it back once
                    certs = work / "certs"
                    certs.mkdir()
                    shutil.copyfile(ca.cert, certs / "ca.crt")
                    podman.run("pull", "--quiet", f"--cert-dir={certs}", image)
                    run_podman(podman, image, first.iguana, 1)  # warm up, as verify's pull does
                podman_totals.append(run_podman(podman, image, first.iguana, args.jobs))
            podman.run("rmi", "--all", "--force")
    finally:
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"bench_jobs: {args.jobs} trivial containers (busybox sh -c true) per side, same image, "
        f"storage and containers.conf; median of {args.rounds} alternating rounds"
    )
    # the ratio depends on the load: podman's CLI loses more to a busy machine than Iguana
    load_after = os.getloadavg()[0]
    print(f"  load average (1 min): {load_before:.1f} at the start, {load_after:.1f} at the end")
    podman_total = statistics.median(podman_totals)
    per_job = podman_total / args.jobs
    print(f"  podman run --rm         total {podman_total:6.2f} s  {per_job:6.3f} s/job")
    for side in sides:
        report(side, args.jobs, podman_total)
    return 0


def report(side: Side, jobs: int, podman_total: float) -> None:
    """Print one side's medians: totals, per job, ratio, and where its time went."""
    total, inside = statistics.median(side.totals), statistics.median(side.insides)
    print(f"  {side.name}:")
    print(f"    iguana run --sandbox  total {total:6.2f} s  {total / jobs:6.3f} s/job")
    print(
        f"    of which the jobs   total {inside:6.2f} s  {inside / jobs:6.3f} s/job  (the rest, "
        f"{total - inside:.2f} s once: start-up, podman service, pull, mount, hand-off)"
    )
    print(
        f"    ratio iguana/podman: {total / podman_total:.2f} all-in, "
        f"{inside / podman_total:.2f} jobs alone (target all-in at most 1.15)"
    )
    states = [timings.get("states", {}) for timings in side.timings]
    if not all(states):
        return  # a tree from before the timings
    cells = ", ".join(
        f"{name} {statistics.median(state.get(name, 0.0) for state in states):.2f}"
        for name in states[-1]
    )
    print(f"    seconds by state (medians): {cells}")
    phases: dict[str, list[float]] = {}
    for timings in side.timings:
        for job in timings.get("jobs", {}).values():
            for phase, seconds in job.items():
                phases.setdefault(phase, []).append(seconds)
    cells = ", ".join(
        f"{phase} {statistics.median(values):.3f}" for phase, values in phases.items()
    )
    print(f"    seconds per job phase (medians): {cells}")
    engine = [timings.get("engine", {}) for timings in side.timings]
    if all(engine):
        start = statistics.median(each["start"] for each in engine)
        waited = statistics.median(each["waited"] for each in engine)
        stop = statistics.median(each.get("stop", 0.0) for each in engine)
        print(
            f"    podman service: start {start:.2f} s, of which a stage waited {waited:.2f} s; "
            f"stop {stop:.2f} s"
        )
    outside = [
        wall - sum(state.values()) - each.get("stop", 0.0)
        for wall, state, each in zip(side.totals, states, engine, strict=True)
    ]
    print(
        f"    outside every state and the engine's stop (interpreter, imports, exit): "
        f"{statistics.median(outside):.2f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
