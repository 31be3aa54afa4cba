"""The example partition container on a real loop device, as examples/README.md shows it:
through ``iguana run --sandbox`` (pulled from a TLS registry on 127.0.0.1 serving the same store
the boot tests' image device carries), and run directly with podman for its refusals.

The disk image lies inside the sandbox directory: sandbox mode touches only loop devices whose
backing file is there.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from iguana_fsm.paths import Paths
from tests.e2e import bootkit, debiankit
from tests.integration.trust_support import CertAuthority, unmount_under
from tests.support.podman_cli import PodmanCli, podman_env
from tests.support.registry import Registry

pytestmark = pytest.mark.e2e

IGUANA = [sys.executable, "-m", "iguana_fsm"]
LAYOUT = "bios 1M; esp 32M; swap 16M; root rest ext4 sandbox-root"
ROOT_TYPE = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
TYPES = [
    "21686148-6449-6e6f-744e-656564454649",
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
    "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f",
    ROOT_TYPE,
]


@dataclass(frozen=True)
class Served:
    """The example images on a TLS registry on 127.0.0.1."""

    registry: Registry
    ca: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, kernel: bootkit.Kernel) -> Iterator[Served]:
    """A TLS docker-registry serving the example images' store (the cached one)."""
    store = debiankit.registry_store(
        debiankit.rootfs_tar((kernel.release, debiankit.other_kernel()))
    )
    top = tmp_path_factory.mktemp("examples-registry")
    ca = CertAuthority.create(top / "ca")
    (top / "registry").mkdir()
    # The registry only reads the store for pulls.
    (top / "registry" / "data").symlink_to(store)
    with Registry(top / "registry", tls=ca.server_cert(top / "server"), ca=ca.cert) as registry:
        yield Served(registry, ca.cert)


@dataclass
class LoopDisk:
    """A disk image attached as a loop device with partition scanning."""

    image: Path
    device: str

    @classmethod
    def attach(cls, image: Path, size_mb: int) -> LoopDisk:
        """Create a sparse image of ``size_mb`` and attach it."""
        bootkit.blank_image(image, size_mb)
        device = bootkit.run(["losetup", "--find", "--show", "--partscan", str(image)]).stdout
        return cls(image, device.strip())

    def partitions(self) -> list[dict[str, str]]:
        """The partition table as sfdisk reads it."""
        table = json.loads(bootkit.run(["sfdisk", "--json", self.device]).stdout)
        return list(table["partitiontable"]["partitions"])

    def probe(self, number: int) -> dict[str, str]:
        """blkid's view of partition ``number`` (the device itself, no udev)."""
        out = bootkit.run(["blkid", "-p", "-o", "export", f"{self.device}p{number}"]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def detach(self) -> None:
        """Drop the partitions and the loop device."""
        subprocess.run(["partx", "-d", self.device], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", self.device], capture_output=True, check=False)


@pytest.fixture
def sandbox() -> Iterator[Path]:
    """A fresh sandbox directory with a short path under /tmp, removed with what is in it."""
    top = Path(tempfile.mkdtemp(prefix="igx-", dir="/tmp"))
    try:
        yield top
    finally:
        paths = Paths.for_sandbox(top)
        if paths.storage is not None and paths.storage.exists():
            podman = PodmanCli.for_paths(paths, podman_env(top / "conf"))
            podman.run("rm", "--all", "--force", "--time", "0", check=False)
            podman.run("rmi", "--all", "--force", check=False)
            podman.remove_runroot()
        unmount_under(top)
        shutil.rmtree(top, ignore_errors=True)


def _iguana(top: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IGUANA, *args[:1], "--sandbox", str(top), *args[1:]],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_partition_in_the_sandbox_on_a_loop_device(sandbox: Path, served: Served) -> None:
    """``iguana run --sandbox`` with the example partition container lays out a real loop
    device (GPT, Discoverable Partitions types, file systems) and Iguana's mount stage finds the
    root by its type without a mountlist; a second run keeps the layout and file systems."""
    paths = Paths.for_sandbox(sandbox)
    paths.config.mkdir(parents=True)
    host = served.registry.host
    (paths.config / "registries.conf").write_text(f"{host}/registry.iguana.test/examples\n")
    shutil.copyfile(served.ca, paths.config / "ca.pem")
    workflow = yaml.safe_load((bootkit.REPO / "examples" / "workflows" / "debian.yaml").read_text())
    partition_job = workflow["jobs"]["partition"]
    partition_job["container"]["image"] = f"{host}/{debiankit.image('partition')}"
    partition_job["container"]["env"]["PARTITION_LAYOUT"] = LAYOUT
    workflow["jobs"] = {"partition": partition_job}
    (sandbox / "workflow.yaml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    disk = LoopDisk.attach(sandbox / "disk.img", 256)
    try:
        cmdline = f"rd.iguana.env=TARGET_DISK={disk.device}"
        first = _iguana(sandbox, "run", "--workflow", str(sandbox / "workflow.yaml"), "--batch",
                        "--cmdline", cmdline)  # fmt: skip
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        parts = disk.partitions()
        assert [part["type"].lower() for part in parts] == TYPES
        assert [part.get("name") for part in parts] == ["bios", "esp", "swap", "root"]
        assert int(parts[1]["size"]) * 512 == 32 * 2**20
        assert disk.probe(2)["TYPE"] == "vfat"
        assert disk.probe(3)["TYPE"] == "swap"
        root = disk.probe(4)
        assert (root["TYPE"], root["LABEL"]) == ("ext4", "sandbox-root")
        state = json.loads(paths.state.read_text())
        assert state["handoff"]["guessed_root"], state["handoff"]
        assert state["handoff"]["mounts"][0]["device"] == f"{disk.device}p4"

        again = _iguana(sandbox, "run", "--fresh", "--workflow", str(sandbox / "workflow.yaml"),
                        "--batch", "--cmdline", cmdline)  # fmt: skip
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        output = again.stdout + again.stderr
        assert "already has this layout: partitions kept" in output, output[-3000:]
        assert disk.probe(4)["UUID"] == root["UUID"]
    finally:
        unmount_under(sandbox)
        disk.detach()


@pytest.fixture(scope="module")
def partition_podman(
    tmp_path_factory: pytest.TempPathFactory, served: Served
) -> Iterator[tuple[PodmanCli, str]]:
    """A private podman storage holding the partition image, pulled from the registry."""
    top = Path(tempfile.mkdtemp(prefix="igx-", dir="/tmp"))
    podman = PodmanCli(top / "storage", top / "run", podman_env(top / "conf"))
    reference = f"{served.registry.host}/{debiankit.image('partition')}"
    certs = top / "certs" / served.registry.host
    certs.mkdir(parents=True)
    shutil.copyfile(served.ca, certs / "ca.crt")
    try:
        podman.run("pull", "--quiet", "--cert-dir", str(certs), reference)
        yield podman, reference
    finally:
        podman.run("rm", "--all", "--force", check=False)
        podman.run("rmi", "--all", "--force", check=False)
        unmount_under(top)
        podman.remove_runroot()
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize(
    ("size_mb", "layout", "code", "reason"),
    [
        (64, "bios 1M; root 100M", 3, "has 64 MiB; the layout needs at least 103 MiB"),
        (64, "bios 1M; rot 10M", 2, "entry 2 (rot 10M): unknown role 'rot'"),
        (64, "root rest; swap 8M", 2, "entry 2 (swap 8M): comes after a 'rest' partition"),
        (64, "root 1.5G", 2, "size '1.5G' is not NUMBER M, NUMBER G or rest"),
        (64, "root 8M; root 8M", 2, "has 2 root partitions; one at most"),
        (64, "root 10M xfs", 2, "unknown file system 'xfs'"),
    ],
)
def test_partition_refuses_in_one_line(
    tmp_path: Path,
    partition_podman: tuple[PodmanCli, str],
    size_mb: int,
    layout: str,
    code: int,
    reason: str,
) -> None:
    """A disk too small for the description, or a description that is not valid, is refused
    with one line on stderr and the documented exit code, and the disk is left untouched."""
    podman, reference = partition_podman
    disk = LoopDisk.attach(tmp_path / "disk.img", size_mb)
    try:
        result = podman.run(
            "run", "--rm", "--privileged", "--network=host", "-v", "/dev:/dev",
            "-e", f"TARGET_DISK={disk.device}", "-e", f"PARTITION_LAYOUT={layout}", reference,
            check=False,
        )  # fmt: skip
        assert result.returncode == code, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("partition: "), result.stderr
        assert reason in lines[0]
        assert (tmp_path / "disk.img").read_bytes().count(0) == size_mb * 2**20
    finally:
        disk.detach()
