"""What Iguana costs per job: the same N trivial containers through ``iguana run --sandbox`` and
as plain ``podman run --rm`` calls, in the same run, on the same image, storage and
containers.conf. Prints both totals, the per-job times, the per-job overhead and the ratio.

``python bench/bench_jobs.py [--jobs N]``: needs podman, runc, docker-registry, openssl and
busybox-static (``make bench`` installs them). Everything lives in a temp dir under /tmp that is
removed at the end, registry and podman mounts included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

# The test support builds the images and runs the registry; the bench reuses it as it is.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iguana_fsm.engine.service import packaged_containers_conf
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


def run_iguana(top: Path, image: str, jobs: int, env: dict[str, str]) -> tuple[float, float]:
    """``iguana run --sandbox`` on the N-job workflow: wall seconds, and the sum of the jobs'
    own durations as the checkpoint records them."""
    paths = Paths.for_sandbox(top)
    source = top / "workflow.yaml"
    source.write_text(yaml.safe_dump(workflow(image, jobs), sort_keys=False))
    command = [sys.executable, "-m", "iguana_fsm"]
    began = time.monotonic()
    result = subprocess.run(
        [*command, "run", "--sandbox", str(top), "--workflow", str(source), "--batch"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    took = time.monotonic() - began
    if result.returncode != 0:
        raise SystemExit(f"iguana run failed ({result.returncode}): {result.stderr[-2000:]}")
    record = json.loads(paths.state.read_text())
    inside = sum(job["finished"] - job["started"] for job in record["jobs"].values())
    return took, inside


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


def main(argv: list[str] | None = None) -> int:
    """Set up registry and image, measure both ways, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10, help="containers per side (default 10)")
    parser.add_argument("--keep-log", type=Path, metavar="FILE", help="copy iguana's log.jsonl")
    args = parser.parse_args(argv)
    # short: podman refuses a runroot path longer than 50 characters
    work = Path(tempfile.mkdtemp(prefix="igbench-", dir="/tmp"))
    env = {**os.environ, "CONTAINERS_CONF": str(packaged_containers_conf())}
    try:
        ca = CertAuthority.create(work / "ca")
        builder = PodmanCli(work / "build" / "root", work / "build" / "runroot", env)
        with Registry(work / "registry", tls=ca.server_cert(work / "tls"), ca=ca.cert) as registry:
            local = build_image(builder, "localhost/bench/true:1", SCRIPT, busybox_rootfs_tar(work))
            image = f"{registry.host}/bench/true:1"
            push_image(builder, local, image, tls_verify=False)
            top = work / "sandbox"
            paths = Paths.for_sandbox(top)
            paths.config.mkdir(parents=True)
            (paths.config / "registries.conf").write_text(f"{registry.host}/bench\n")
            shutil.copyfile(ca.cert, paths.config / "ca.pem")

            iguana_total, iguana_inside = run_iguana(top, image, args.jobs, env)
            if args.keep_log:
                shutil.copyfile(paths.log, args.keep_log)

            # the same storage and conf; Iguana removed the image after its last job
            podman = PodmanCli.for_paths(paths, env)
            certs = work / "certs"
            certs.mkdir()
            shutil.copyfile(ca.cert, certs / "ca.crt")
            podman.run("pull", "--quiet", f"--cert-dir={certs}", image)
            run_podman(podman, image, paths.iguana, 1)  # warm the runtime, like the pulls above
            podman_total = run_podman(podman, image, paths.iguana, args.jobs)
            podman.run("rmi", "--all", "--force")
    finally:
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)

    jobs = args.jobs
    per_iguana, per_podman = iguana_total / jobs, podman_total / jobs
    print(f"bench_jobs: {jobs} trivial containers (busybox sh -c true), same image and storage")
    print(
        f"  iguana run --sandbox  total {iguana_total:7.2f} s  {per_iguana:6.3f} s/job"
        f"  (jobs themselves {iguana_inside:.2f} s, {iguana_inside / jobs:.3f} s/job; the rest"
        f" is start-up, pull, mount and hand-off: {iguana_total - iguana_inside:.2f} s)"
    )
    print(f"  podman run --rm       total {podman_total:7.2f} s  {per_podman:6.3f} s/job")
    print(
        f"  per-job overhead of iguana: {per_iguana - per_podman:+.3f} s "
        f"(jobs only: {iguana_inside / jobs - per_podman:+.3f} s); "
        f"ratio iguana/podman: {iguana_total / podman_total:.2f} "
        f"(jobs only: {iguana_inside / podman_total:.2f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
