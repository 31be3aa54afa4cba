"""The pull plan on real podman and a real TLS docker-registry on 127.0.0.1: whole boots through
``iguana run --sandbox`` whose memory budget is made small with ``rd.iguana.memory_limit``
(``MemAvailable`` moves on a shared machine; a limit does not), with images padded by
incompressible data so that their sizes add up.

Each image is the busybox rootfs plus a PAD_MIB file of random bytes of its own (layers of
different images are never shared): about 26 MiB unpacked, 25 MiB to download.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.errors import ExitCode
from tests.integration.test_boot_runs import NEW_ROOT, RUN_SCRIPT, Sandbox, World, job
from tests.integration.trust_support import CertAuthority, unmount_under
from tests.support.images import containerfile, push_image
from tests.support.podman_cli import PodmanCli
from tests.support.registry import Registry

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
PAD_MIB = 24
NAMES = ("a", "b", "c")
DD = "dd if=/dev/zero of=/dev/null bs=16M count=1 2>/dev/null; sleep 1"
"""16 MiB in one buffer, then time for the peak to be sampled (every 0.2 s)."""


@dataclass(frozen=True)
class Padded:
    """The world of test_boot_runs with three padded images in its registry."""

    world: World
    images: dict[str, str]


def padded_image(podman: PodmanCli, name: str, rootfs: Path, directory: Path) -> str:
    """Build ``name``: the busybox rootfs, PAD_MIB of random bytes, the test command."""
    context = directory / name.rsplit("/", 1)[-1].replace(":", "-")
    context.mkdir(parents=True)
    (context / "rootfs.tar").hardlink_to(rootfs)
    subprocess.run(
        ["openssl", "rand", "-out", str(context / "pad.bin"), str(PAD_MIB * MIB)], check=True
    )
    text = containerfile(RUN_SCRIPT).replace("ENV PATH=/bin\n", "ENV PATH=/bin\nADD pad.bin /pad\n")
    (context / "Containerfile").write_text(text)
    podman.run("build", "--quiet", "--format", "docker", "--tag", name, str(context))
    return name


@pytest.fixture(scope="module")
def padded(
    tmp_path_factory: pytest.TempPathFactory,
    podman_environment: dict[str, str],
    busybox_rootfs: Path,
) -> Iterator[Padded]:
    """A TLS registry holding the padded images a, b and c (built once per module)."""
    top = tmp_path_factory.mktemp("memory-world")
    ca = CertAuthority.create(top / "ca")
    build_dir = Path(tempfile.mkdtemp(prefix="igm-build-", dir="/tmp"))
    podman = PodmanCli(build_dir / "root", build_dir / "runroot", podman_environment)
    try:
        with Registry(top / "registry", tls=ca.server_cert(top / "server"), ca=ca.cert) as registry:
            images = {}
            for name in NAMES:
                local = padded_image(podman, f"localhost/igt/{name}:1", busybox_rootfs, build_dir)
                images[name] = f"{registry.host}/igt/{name}:1"
                push_image(podman, local, images[name], tls_verify=False)
            podman.run("rmi", "--all", "--force")
            world = World(
                registry,
                ca.cert,
                images["a"],
                images["b"],
                images["c"],
                images["a"],
                podman_environment,
            )
            yield Padded(world, images)
    finally:
        unmount_under(build_dir)
        shutil.rmtree(build_dir, ignore_errors=True)


@pytest.fixture
def box(padded: Padded) -> Iterator[Sandbox]:
    """A fresh sandbox under /tmp, removed with everything in it."""
    sandbox = Sandbox(Path(tempfile.mkdtemp(prefix="igm-", dir="/tmp")), padded.world)
    try:
        yield sandbox
    finally:
        sandbox.close()


def events(box: Sandbox) -> list[dict[str, Any]]:
    """The boot's log events, in order."""
    return [json.loads(line) for line in box.paths.log.read_text().splitlines() if line]


def three_jobs(padded: Padded, script: str = "sleep 2") -> dict[str, Any]:
    """Jobs one, two, three on images a, b, c; the last prepares the new root."""
    return {
        "one": job(padded.images["a"], f"{script}; {DD}"),
        "two": job(padded.images["b"], script),
        "three": job(padded.images["c"], NEW_ROOT),
    }


def boot(box: Sandbox, limit: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``iguana run`` with ``rd.iguana.memory_limit=limit``; its run and status document."""
    result = box.run("--cmdline", f"rd.iguana.memory_limit={limit}", timeout=300)
    _, document = box.status()
    return result, document


class TestPlanThatFits:
    def test_everything_pulled_in_verify_and_memory_shown(
        self, padded: Padded, box: Sandbox
    ) -> None:
        """Within the budget verify pulls every image (today's boot); the record keeps each
        image's registry and measured sizes, the jobs' peaks and MemAvailable at each step."""
        box.write_workflow(three_jobs(padded, script="true"))
        result, document = boot(box, "1G")
        assert result.returncode == 0, result.stderr[-3000:]
        memory = document["memory"]
        assert memory["mode"] == "all"
        for reference in padded.images.values():
            size = memory["images"][reference]
            assert size["measured"] and size["unpacked"] > PAD_MIB * MIB
            assert size["download"] > PAD_MIB * MIB
        names = [event["event"] for event in events(box)]
        assert "image.prefetch" not in names
        verified = [i for i, name in enumerate(names) if name == "verify.image"]
        started = names.index("job.started")
        assert len(verified) == 3 and max(verified) < started
        assert all(step["mem_available"] > 0 for step in document["history"])
        # dd's 16 MiB buffer is in the first job's peak
        assert document["jobs"]["one"]["peak_memory"] >= 16 * MIB
        assert memory["peak"] >= 16 * MIB
        status = subprocess.run(box.command("status"), capture_output=True, text=True)
        assert "memory:   peak " in status.stdout and "images pulled all" in status.stdout


class TestPlanPerJob:
    def test_each_job_pulls_its_image_and_prefetches_the_next(
        self, padded: Padded, box: Sandbox
    ) -> None:
        """In 100 MiB three 26 MiB images do not fit with a download under way (their
        registry sizes, estimated unpacked, say 175 MiB), one job does: verify checks and
        drops each, the next job's image is pulled while a job runs, and each image goes
        after its job."""
        box.write_workflow(three_jobs(padded))
        result, document = boot(box, "100M")
        assert result.returncode == 0, result.stderr[-3000:]
        memory = document["memory"]
        assert memory["mode"] == "per-job"
        assert memory["jobs"]["two"]["prefetch"] == [padded.images["b"]]
        assert memory["jobs"]["three"]["prefetch"] == [padded.images["c"]]
        log = events(box)
        names = [event["event"] for event in log]

        def at(event: str, **fields: str) -> int:
            return next(
                i
                for i, item in enumerate(log)
                if item["event"] == event and all(item.get(k) == v for k, v in fields.items())
            )

        pinned = {name: document["images"][ref] for name, ref in padded.images.items()}
        assert names.count("image.verified_dropped") == 2
        # b comes while job one runs, and a goes after it
        assert at("job.started", job="one") < at("image.prefetched", image=pinned["b"])
        assert at("image.prefetched", image=pinned["b"]) < at("job.finished", job="one")
        assert at("job.finished", job="one") < at("image.removed", image=pinned["a"])
        assert at("image.removed", image=pinned["a"]) < at("job.started", job="two")
        assert at("image.removed", image=pinned["c"], job="three") > at("job.finished", job="three")
        assert box.images() == []

    def test_verify_and_dry_run_show_the_plan(self, padded: Padded, box: Sandbox) -> None:
        """``iguana verify`` and ``iguana run --dry-run`` print the registry's sizes (unpacked
        estimated), the budget and which job pulls what, before any image is pulled."""
        workflow = box.write_workflow(three_jobs(padded))
        cmdline = "rd.iguana.memory_limit=100M"
        checked = subprocess.run(
            box.command("verify", "--cmdline", cmdline, str(workflow)),
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        dry = subprocess.run(
            box.command("run", "--dry-run", "--workflow", str(workflow), "--cmdline", cmdline),
            capture_output=True,
            text=True,
        )
        assert dry.returncode == 0, dry.stderr
        for out in (checked.stdout, dry.stdout):
            assert "memory: budget 100.0 MiB" in out
            assert f"image {padded.images['a']}: download " in out
            assert "plan: each job's images pulled before it" in out
            # estimated unpacked at twice the download, b cannot come while a is in use
            assert f"job two: needs 75.1 MiB; pull {padded.images['b']} before it" in out, out


class TestPlanRefused:
    def test_job_that_cannot_fit_is_refused_in_verify(self, padded: Padded, box: Sandbox) -> None:
        """A job whose service and container images (50 MiB to download alone) cannot fit in
        60 MiB fails the boot in verify with exit 5, one line naming the job and both byte
        counts; no image was pulled and no container ran."""
        big = job(padded.images["c"], "true")
        big["services"] = {"helper": job(padded.images["b"], "sleep 60")["container"]}
        box.write_workflow({"small": job(padded.images["a"], "true"), "big": big})
        result, document = boot(box, "60M")
        assert result.returncode == ExitCode.ENGINE, result.stderr[-3000:]
        error = document["error"]
        assert error["state"] == "verify"
        assert error["message"].startswith("job big: its images need ")
        assert (
            f"but {60 * MIB} bytes (60.0 MiB) are available (before any download)"
            in (error["message"])
        )
        names = [event["event"] for event in events(box)]
        assert "image.pulled" not in names and "job.started" not in names
        assert box.images() == []
        assert document["jobs"] == {}
