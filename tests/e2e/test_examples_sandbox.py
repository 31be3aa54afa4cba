"""The example partition container on a real loop device, as examples/README.md shows it:
through ``iguana run --sandbox`` (pulled from a TLS registry on 127.0.0.1 serving the same store
the boot tests' image device carries), and run directly with podman for its refusals.

The disk image lies inside the sandbox directory: sandbox mode touches only loop devices whose
backing file is there.
"""

from __future__ import annotations

import hashlib
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
from tests.integration.trust_support import Answer, CertAuthority, ScriptedServer, unmount_under
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
    """A private podman storage holding the three example images (one shared layer), pulled
    from the registry; yields it and the partition image's reference."""
    top = Path(tempfile.mkdtemp(prefix="igx-", dir="/tmp"))
    podman = PodmanCli(top / "storage", top / "run", podman_env(top / "conf"))
    reference = f"{served.registry.host}/{debiankit.image('partition')}"
    certs = top / "certs" / served.registry.host
    certs.mkdir(parents=True)
    shutil.copyfile(served.ca, certs / "ca.crt")
    try:
        podman.run("pull", "--quiet", "--cert-dir", str(certs), reference)
        for other in ("image-deploy", "debian-install"):
            twin = reference.replace("/partition:", f"/{other}:")
            podman.run("pull", "--quiet", "--cert-dir", str(certs), twin)
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


def _raw_image(directory: Path) -> bytes:
    """A 64 MiB raw disk image: GPT with a BIOS boot partition and an ext4 root (32 MiB, the
    last partition) holding /etc/os-release."""
    tree = directory / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "os-release").write_text('ID=deployed\nNAME="image-deploy test"\n')
    root = bootkit.ext4_image(directory / "root.img", 32, "deployed", tree)
    disk = bootkit.blank_image(directory / "disk.img", 64)
    script = f"label: gpt\nsize=1MiB, type={TYPES[0]}\nsize=32MiB, type={ROOT_TYPE}\n"
    bootkit.run(["sfdisk", "--quiet", str(disk)], input=script)
    offset = bootkit.partition_offset(disk, 2)
    bootkit.run(["dd", f"if={root}", f"of={disk}", "bs=1M", f"seek={offset // 2**20}",
                 "conv=notrunc", "status=none"])  # fmt: skip
    return disk.read_bytes()


def test_image_deploy_in_the_sandbox_streams_checks_and_grows(
    sandbox: Path, served: Served, tmp_path: Path
) -> None:
    """``iguana run --sandbox`` with the example image-deploy workflow streams a raw image from
    an HTTPS server on 127.0.0.1 onto a loop device, checks its sha256, moves the backup GPT
    and grows the root partition and its ext4 to the end of the disk, writes the mountlist by
    UUID, and Iguana mounts that root."""
    paths = Paths.for_sandbox(sandbox)
    paths.config.mkdir(parents=True)
    host = served.registry.host
    (paths.config / "registries.conf").write_text(f"{host}/registry.iguana.test/examples\n")
    shutil.copyfile(served.ca, paths.config / "ca.pem")
    image = _raw_image(tmp_path)
    ca_dir = sandbox / "ca"
    ca_dir.mkdir()
    tls = CertAuthority.create(tmp_path / "web-ca")
    shutil.copyfile(tls.cert, ca_dir / "ca.pem")
    workflow = yaml.safe_load(
        (bootkit.REPO / "examples" / "workflows" / "image-deploy.yaml").read_text()
    )
    container = workflow["jobs"]["deploy"]["container"]
    container["image"] = f"{host}/{debiankit.image('image-deploy')}"
    container["volumes"] = [f"{ca_dir}:/ca:ro"]
    (sandbox / "workflow.yaml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    disk = LoopDisk.attach(sandbox / "disk.img", 128)
    with ScriptedServer(tls=tls.server_cert(tmp_path / "web")) as web:
        url = web.serve("/debian.img", Answer(body=image))
        try:
            cmdline = (
                f"rd.iguana.env=TARGET_DISK={disk.device} rd.iguana.env=IMAGE_URL={url} "
                f"rd.iguana.env=IMAGE_SHA256={hashlib.sha256(image).hexdigest()} "
                "rd.iguana.env=IMAGE_CA=/ca/ca.pem"
            )
            result = _iguana(sandbox, "run", "--workflow", str(sandbox / "workflow.yaml"),
                             "--batch", "--cmdline", cmdline)  # fmt: skip
            output = result.stdout + result.stderr
            assert result.returncode == 0, output[-3000:]
            assert "image-deploy: grew partition 2" in output, output[-3000:]
            parts = disk.partitions()
            end = int(parts[1]["start"]) + int(parts[1]["size"])
            # the partition reaches the last usable sector (the backup GPT takes 33 at the end)
            assert end >= 128 * 2**20 // 512 - 34 - 2048, parts
            root = disk.probe(2)
            assert root["LABEL"] == "deployed"
            blocks = bootkit.run(["dumpe2fs", "-h", f"{disk.device}p2"]).stdout
            count = int(
                next(
                    line for line in blocks.splitlines() if line.startswith("Block count:")
                ).split()[-1]
            )
            size = int(
                next(
                    line for line in blocks.splitlines() if line.startswith("Block size:")
                ).split()[-1]
            )
            assert count * size > 90 * 2**20
            assert paths.mountlist.read_text() == f"UUID={root['UUID']} /\n"
            state = json.loads(paths.state.read_text())
            assert state["error"] is None
            assert state["handoff"]["mounts"][0]["source"] == f"{disk.device}p2"
        finally:
            unmount_under(sandbox)
            disk.detach()


def test_image_deploy_refuses_a_wrong_checksum(
    tmp_path: Path, served: Served, partition_podman: tuple[PodmanCli, str]
) -> None:
    """An image whose bytes do not have the given sha256 fails with exit code 7 and one line,
    and the disk is left without a partition table (wiped again), never half deployed."""
    podman, partition = partition_podman
    reference = partition.replace("/partition:", "/image-deploy:")
    image = _raw_image(tmp_path)
    tls = CertAuthority.create(tmp_path / "web-ca")
    disk = LoopDisk.attach(tmp_path / "target.img", 128)
    with ScriptedServer(tls=tls.server_cert(tmp_path / "web")) as web:
        url = web.serve("/debian.img", Answer(body=image))
        try:
            result = podman.run(
                "run", "--rm", "--privileged", "--network=host", "-v", "/dev:/dev",
                "-v", f"{tls.cert}:/ca.pem:ro", "-e", "IMAGE_CA=/ca.pem",
                "-e", f"TARGET_DISK={disk.device}", "-e", f"IMAGE_URL={url}",
                "-e", f"IMAGE_SHA256={hashlib.sha256(b'other').hexdigest()}", reference,
                check=False,
            )  # fmt: skip
            assert result.returncode == 7, result.stdout + result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, result.stderr
            assert f"{url} has sha256 {hashlib.sha256(image).hexdigest()}, not " in lines[0]
            assert bootkit.run(["blkid", "-p", disk.device], check=False).returncode == 2
        finally:
            disk.detach()


@pytest.mark.parametrize(
    ("env", "code", "reason"),
    [
        ({"KERNEL": "9.9.9-1-amd64"}, 2, "KERNEL=9.9.9-1-amd64 is not in the image (it has: "),
        ({"KERNEL_ACTION": "halt"}, 2, "KERNEL_ACTION=halt: kexec or reboot"),
        ({}, 5, "has no root partition (type 4f68bce3-e8cd-4db1-96e7-fbcaf984b709)"),
    ],
)
def test_debian_install_refuses_in_one_line(
    tmp_path: Path,
    partition_podman: tuple[PodmanCli, str],
    env: dict[str, str],
    code: int,
    reason: str,
) -> None:
    """debian-install refuses a kernel the image does not carry, an unknown kernel action and a
    disk without a root partition with one line and its exit code, and mounts nothing."""
    podman, partition = partition_podman
    reference = partition.replace("/partition:", "/debian-install:")
    disk = LoopDisk.attach(tmp_path / "disk.img", 64)
    try:
        script = "label: gpt\nsize=8MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n"
        bootkit.run(["sfdisk", "--quiet", disk.device], input=script)
        options = [f"--env={name}={value}" for name, value in env.items()]
        result = podman.run(
            "run", "--rm", "--privileged", "--network=host", "-v", "/dev:/dev",
            "-e", f"TARGET_DISK={disk.device}", *options, reference, check=False,
        )  # fmt: skip
        assert result.returncode == code, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("debian-install: "), result.stderr
        assert reason in lines[0]
    finally:
        disk.detach()
