"""Image-based deployment over the network under QEMU: the example image-deploy container, pulled
signed from the TLS registry, streams a raw Debian disk image over HTTPS onto the target disk,
checks its sha256, grows the root partition and its ext4, writes the mountlist, and Iguana
switches root into the deployed system, which reaches multi-user.target on its own.

Everything comes over the test's restricted network (tests/e2e/netkit.py): the signed workflow,
its signature, the image signature lookaside and the disk image from one HTTPS server
(10.0.2.100:443), the image from the TLS registry (10.0.2.100:5000) serving the cached example
store. The disk image is made from the same cached Debian root as the other real-system boots
(debiankit.deploy_image). Disks: vda the report device, vdb the target.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import bootkit, debiankit, netkit
from tests.support.registry import Registry

pytestmark = pytest.mark.e2e

HOST = netkit.GUEST_SERVER
IMAGE = f"{netkit.GUEST_REGISTRY}/{debiankit.image('image-deploy')}"
"""The example image as the guest pulls it: the cached store's repository on the TLS registry."""
MEMORY_MB = 2048
"""Guest memory: as the other install boots (the pulled image lives in the initrd's tmpfs)."""
TARGET_MB = 1024
CMDLINE = (
    "console=ttyS0 root=iguana panic=1 rd.shell=0 rd.iguana.reboot_delay=1 ip=dhcp rd.neednet=1 "
    f"rd.iguana.registries={netkit.GUEST_REGISTRY} rd.iguana.report=LABEL={bootkit.REPORT_LABEL} "
    f"rd.iguana.control_url=https://{HOST}/control.yaml"
)


@dataclass(frozen=True)
class Deployment:
    """What the servers hold: the disk image (its path and sha256) and the web root."""

    image: Path
    sha256: str
    www: Path
    store: Path


def _skopeo(*args: str) -> str:
    return bootkit.run(["skopeo", *args]).stdout


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, kernel: bootkit.Kernel, trust: netkit.Trust
) -> Deployment:
    """The web root: the zstd disk image, the signed workflow deploying it with the example
    container, and the image's signature in the lookaside layout under sigstore/."""
    rootfs = debiankit.rootfs_tar((kernel.release, debiankit.other_kernel()))
    store = debiankit.registry_store(rootfs)
    image = debiankit.deploy_image(rootfs, kernel.release)
    digest = hashlib.sha256()
    with image.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    top = tmp_path_factory.mktemp("deploy")
    www = top / "www"
    www.mkdir()
    (www / "debian.img.zst").symlink_to(image)
    (top / "registry").mkdir()
    (top / "registry" / "data").symlink_to(store)
    with Registry(top / "registry", tls=trust.cert, ca=trust.ca.cert) as registry:
        local = IMAGE.replace(netkit.GUEST_REGISTRY, registry.host)
        manifest = _skopeo(
            "inspect", "--raw", "--cert-dir", str(trust.certs_d), f"docker://{local}"
        )
    netkit.sign_manifest(trust.key, manifest.encode(), IMAGE, top / "lookaside")
    shutil.copytree(top / "lookaside", www / "sigstore")
    workflow = _workflow(digest.hexdigest()).encode()
    (www / "control.yaml").write_bytes(workflow)
    (www / "control.yaml.sig").write_bytes(trust.key.detach_sign(workflow))
    return Deployment(image, digest.hexdigest(), www, store)


def _workflow(sha256: str) -> str:
    """examples/workflows/image-deploy.yaml with the test's image, URL, checksum and disk; the
    initrd's /etc/iguana (its CA) mounted read-only for IMAGE_CA."""
    example = bootkit.REPO / "examples" / "workflows" / "image-deploy.yaml"
    workflow: dict[str, Any] = yaml.safe_load(example.read_text())
    workflow["env"]["TARGET_DISK"] = "/dev/vdb"
    container = workflow["jobs"]["deploy"]["container"]
    container["image"] = IMAGE
    container["env"] = {
        "IMAGE_URL": f"https://{HOST}/debian.img.zst",
        "IMAGE_SHA256": sha256,
        "IMAGE_FORMAT": "zstd",
        "IMAGE_CA": "/etc/iguana/ca.pem",
    }
    container["volumes"] = ["/etc/iguana:/etc/iguana:ro"]
    return yaml.safe_dump(workflow, sort_keys=False)


@pytest.fixture
def servers(
    tmp_path: Path, deployment: Deployment, trust: netkit.Trust
) -> Iterator[tuple[netkit.FileServer, Registry]]:
    """The HTTPS file server of the web root and the TLS registry of the example store."""
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "data").symlink_to(deployment.store)
    with (
        netkit.FileServer(deployment.www, trust.cert) as files,
        Registry(tmp_path / "registry", tls=trust.cert, ca=trust.ca.cert) as registry,
    ):
        yield files, registry


def _fs_bytes(disk: Path, offset: int) -> int:
    """The size of the ext4 at ``offset`` of ``disk``, from its superblock."""
    stats = bootkit.run(["debugfs", "-R", "stats", f"{disk}?offset={offset}"]).stdout
    blocks = re.search(r"^Block count:\s+(\d+)", stats, re.MULTILINE)
    size = re.search(r"^Block size:\s+(\d+)", stats, re.MULTILINE)
    assert blocks and size, stats[:2000]
    return int(blocks.group(1)) * int(size.group(1))


def test_image_deploy_over_the_network_boots_the_deployed_system(
    tmp_path: Path,
    kernel: bootkit.Kernel,
    net_initrds: dict[str, Path],
    deployment: Deployment,
    servers: tuple[netkit.FileServer, Registry],
) -> None:
    """The signed workflow over HTTPS runs the signed image-deploy image from the TLS registry;
    it streams the zstd disk image (checked against the sha256 the signed workflow gives) onto a
    larger disk, grows the root partition and ext4 to the disk's end and writes the mountlist;
    Iguana switches root into the deployed Debian, which reaches multi-user.target."""
    files, registry = servers
    target = bootkit.blank_image(tmp_path / "target.img", TARGET_MB)
    report = bootkit.ext4_image(tmp_path / "report.img", 16, bootkit.REPORT_LABEL)
    network = netkit.qemu_network({443: files.port, 5000: registry.port})

    boot = debiankit.qemu_boot(
        [report, target], tmp_path / "serial.log", memory_mb=MEMORY_MB, kernel=kernel,
        initrd=net_initrds["systemd"], cmdline=CMDLINE, network=network,
    )  # fmt: skip

    console = boot.console
    assert boot.returncode == 0, f"qemu ended with {boot.returncode}:\n{console[-5000:]}"
    ready = debiankit.READY.format(host=debiankit.DEPLOY_HOST, release=kernel.release)
    up = re.search(re.escape(ready) + r"([0-9.]+) s\)", console)
    assert up, f"no {ready!r} on the console:\n{console[-5000:]}"
    assert f"image-deploy: wrote and checked https://{HOST}/debian.img.zst" in console
    assert files.hits.get("/debian.img.zst") == 1
    table = json.loads(bootkit.run(["sfdisk", "--json", str(target)]).stdout)["partitiontable"]
    (root,) = table["partitions"]
    assert root["type"].lower() == debiankit.DPS_ROOT_X86_64
    end_bytes = (int(root["start"]) + int(root["size"])) * 512
    assert end_bytes > TARGET_MB * 2**20 - 2**20, table  # up to the backup GPT at the disk's end
    offset = bootkit.partition_offset(target, 1)
    assert _fs_bytes(target, offset) > deployment.image.stat().st_size
    assert _fs_bytes(target, offset) > int(root["size"]) * 512 - 2**20
    record = json.loads(bootkit.read_file(target, "/var/log/iguana/state", offset))
    assert record["state"] == "switch_root" and record["error"] is None
    assert record["jobs"]["deploy"]["status"] == "succeeded"
    assert list(record["images"]) == [IMAGE]
    assert record["trust"]["workflow"]["signed_by"]
    uuid = bootkit.run(
        ["blkid", "-p", "-s", "UUID", "-o", "value", "--offset", str(offset), str(target)]
    ).stdout.strip()
    assert bootkit.read_file(target, "/etc/fstab", offset).split()[0] == f"UUID={uuid}"

    job = record["jobs"]["deploy"]
    started = netkit.console_uptime(console, "iguana: starting")
    pulled = netkit.entered_at(record, "services") - netkit.entered_at(record, "verify")
    bootkit.record_figures(
        image_deploy_seconds_to_iguana=started,
        image_deploy_pull_seconds=round(pulled, 1),
        image_deploy_job_seconds=round(job["finished"] - job["started"], 1),
        image_deploy_install_seconds=round(
            netkit.console_uptime(console, "iguana: finished with exit code 0") - started, 1
        ),
        image_deploy_ready_uptime=float(up.group(1)),
        image_deploy_qemu_seconds=round(boot.seconds, 1),
        image_deploy_image_bytes=deployment.image.stat().st_size,
        image_deploy_memory_mb=MEMORY_MB,
    )
