"""What the pull plan saves: the same three-job workflow (three images of 24 MiB of random
bytes each) through ``iguana run --sandbox`` with every image fitting (pulled all in verify, as
before the plan) and with ``rd.iguana.memory_limit=100M`` (each job's image pulled before it,
removed after it), in the same run. Container storage is sampled every 0.1 s (``du``); prints
the peak of each and the ratio, and both boots' wall times.

``python bench/bench_memory.py``: needs podman, runc, docker-registry and openssl. Everything
lives in temp dirs under /tmp that are removed at the end, registry and podman mounts included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.test_boot_runs import NEW_ROOT, Sandbox, World, job
from tests.integration.test_memory import MIB, NAMES, padded_image
from tests.integration.trust_support import CertAuthority, unmount_under
from tests.support.images import busybox_rootfs_tar, push_image
from tests.support.podman_cli import PodmanCli, podman_env
from tests.support.registry import Registry


def storage_bytes(storage: Path) -> int:
    """Bytes under the sandbox's podman storage (``du -sb``; 0 before it exists)."""
    if not storage.exists():
        return 0
    result = subprocess.run(
        ["du", "-sb", "-x", str(storage)], capture_output=True, text=True, check=False
    )
    return int(result.stdout.split()[0]) if result.stdout else 0


def peak_during(box: Sandbox, limit: str) -> tuple[int, float]:
    """Run the boot with ``rd.iguana.memory_limit=limit``: storage peak in bytes, seconds."""
    peak = 0
    done = threading.Event()
    storage = box.paths.storage
    assert storage is not None

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.1):
            peak = max(peak, storage_bytes(storage))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.monotonic()
    result = box.run("--cmdline", f"rd.iguana.memory_limit={limit}", timeout=600)
    took = time.monotonic() - began
    done.set()
    sampler.join()
    if result.returncode != 0:
        raise SystemExit(f"the boot failed ({result.returncode}): {result.stderr[-2000:]}")
    return peak, took


def main() -> int:
    top = Path(tempfile.mkdtemp(prefix="igbm-", dir="/tmp"))
    env = podman_env(top / "conf")
    podman = PodmanCli(top / "build" / "root", top / "build" / "runroot", env)
    boxes: list[Sandbox] = []
    try:
        ca = CertAuthority.create(top / "ca")
        rootfs = busybox_rootfs_tar(top / "busybox")
        with Registry(top / "registry", tls=ca.server_cert(top / "server"), ca=ca.cert) as reg:
            images = {}
            for name in NAMES:
                local = padded_image(podman, f"localhost/igt/{name}:1", rootfs, top / "ctx")
                images[name] = f"{reg.host}/igt/{name}:1"
                push_image(podman, local, images[name], tls_verify=False)
            world = World(reg, ca.cert, images["a"], images["b"], images["c"], images["a"], env)
            jobs = {
                "one": job(images["a"], "sleep 1"),
                "two": job(images["b"], "sleep 1"),
                "three": job(images["c"], NEW_ROOT),
            }
            figures = {}
            for label, limit in (("all in verify (as before)", "1G"), ("per job", "100M")):
                box = Sandbox(Path(tempfile.mkdtemp(prefix="igbm-box-", dir="/tmp")), world)
                boxes.append(box)
                box.write_workflow(jobs)
                figures[label] = peak_during(box, limit)
        for label, (peak, took) in figures.items():
            print(f"{label:<28} storage peak {peak / MIB:7.1f} MiB   boot {took:5.1f} s")
        before, after = figures["all in verify (as before)"][0], figures["per job"][0]
        print(f"ratio per job / all in verify: {after / before:.2f}")
    finally:
        for box in boxes:
            box.close()
        podman.run("rmi", "--all", "--force", check=False)
        unmount_under(top)
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
