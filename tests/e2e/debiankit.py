"""The parts of the real-system boots: a Debian root file system built by mmdebstrap with the
example containers' own build script (two kernels: Iguana's and another version), the three
example images in a registry store (the offline image device's, or a TLS registry's over the
network), a raw disk image made from the same root for image-deploy, and QEMU with more memory,
optionally on the test's network, optionally booting a disk through its own bootloader.

Slow builds are cached under ``bootkit.CACHE`` keyed by their inputs (the mmdebstrap command
line; for the store, also the scripts that go into the images), built in a temp dir and renamed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from tests.e2e import bootkit
from tests.support.podman_cli import PodmanCli, podman_env
from tests.support.registry import Registry

EXAMPLES = bootkit.REPO / "examples" / "containers"
NAMES = ("partition", "debian-install", "image-deploy")
REGISTRY = "registry.iguana.test/examples"
"""The workflows' registry: it does not exist; the images come from the offline store."""
READY = "iguana-example: {host} reached multi-user.target (kernel {release}, up "
"""The line the installed system's ready unit prints on ttyS0 (debian-install.sh)."""
OTHER_KERNEL_META = "linux-image-6.12-cloud-amd64"
"""The kexec boot's kernel: another Debian kernel version than Iguana's (6.1)."""


def image(name: str) -> str:
    """The workflow's reference to example image ``name``."""
    return f"{REGISTRY}/{name}:1"


def other_kernel() -> str:
    """The release of the kernel package ``OTHER_KERNEL_META`` names (e.g. 6.12.x-cloud-amd64)."""
    depends = bootkit.run(["apt-cache", "depends", OTHER_KERNEL_META]).stdout
    found = re.search(r"Depends: linux-image-(\S+)", depends)
    assert found, f"apt-cache names no kernel for {OTHER_KERNEL_META}:\n{depends}"
    return found.group(1)


def _key(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _build_env(releases: tuple[str, ...]) -> dict[str, str]:
    return {**os.environ, "KERNELS": " ".join(f"linux-image-{r}" for r in releases)}


def rootfs_tar(releases: tuple[str, ...], cache: Path = bootkit.CACHE) -> Path:
    """The debian-install root file system with kernels ``releases`` (slim: no drivers a QEMU
    machine lacks), built once by ``examples/containers/debian-install/build.sh --rootfs-only``."""
    build = EXAMPLES / "debian-install" / "build.sh"
    env = _build_env(releases)
    argv = bootkit.run([str(build), "--slim", "--print-mmdebstrap"], env=env).stdout
    path = cache / f"debian-rootfs-{_key(argv)}.tar"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="debian-rootfs-") as partial:
        output = Path(partial) / "rootfs.tar"
        bootkit.run([str(build), "--slim", "--rootfs-only", str(output)], env=env)
        output.rename(path)
    return path


STORE_FORMAT = "oci+zstd"
"""How the images are pushed into the store (part of its cache key)."""


def _inputs() -> bytes:
    """The files that go into the images besides the root file system."""
    files = [EXAMPLES / "build-image.sh"]
    files += [EXAMPLES / name / f"{name}.sh" for name in NAMES]
    files += [EXAMPLES / name / "build.sh" for name in NAMES]
    return STORE_FORMAT.encode() + b"".join(path.read_bytes() for path in files)


def registry_store(rootfs: Path, cache: Path = bootkit.CACHE) -> Path:
    """A registry store holding the three example images built on ``rootfs`` (they share its
    layer), pushed through a registry on 127.0.0.1. Returns the store (``registry/`` on the
    image device)."""
    path = cache / f"debian-store-{_key(rootfs.name, _inputs())}"
    if path.exists():
        return path
    with tempfile.TemporaryDirectory(dir=cache, prefix="debian-store-") as partial:
        top = Path(partial)
        # podman refuses a runroot path longer than 50 characters: keep it under /tmp.
        runroot = Path(tempfile.mkdtemp(prefix="igx-", dir="/tmp"))
        podman = PodmanCli(top / "storage", runroot, podman_env(top / "conf"))
        env = {
            **podman.env,
            "PODMAN": f"podman --root {podman.root} --runroot {runroot}",
        }
        try:
            with Registry(top / "registry") as registry:
                for name in NAMES:
                    local = f"localhost/iguana-examples/{name}:1"
                    build = EXAMPLES / name / "build.sh"
                    bootkit.run([str(build), "--rootfs", str(rootfs), local], env=env)
                    # zstd layers: the guest (software-emulated) unpacks them faster than gzip
                    podman.run(
                        "push", "--tls-verify=false", "--format=oci", "--compression-format=zstd",
                        local, f"docker://{registry.host}/{image(name)}",
                    )  # fmt: skip
        finally:
            podman.run("rmi", "--all", "--force", check=False)
            shutil.rmtree(runroot, ignore_errors=True)
        try:
            (top / "registry" / "data").rename(path)
        except OSError:
            # another session built the same store at the same time: keep theirs
            if not path.is_dir():
                raise
    return path


def qemu_boot(
    disks: list[Path],
    log: Path,
    *,
    memory_mb: int,
    kernel: bootkit.Kernel | None = None,
    initrd: Path | None = None,
    cmdline: str = "",
    timeout: float = 2400.0,
    network: Sequence[str] = ("-nic", "none"),
) -> bootkit.Boot:
    """Boot QEMU (TCG, serial console to ``log``, no network unless ``network`` gives QEMU's
    network arguments: ``netkit.qemu_network``) with ``disks`` as virtio disks; with ``kernel``
    and ``initrd`` directly, else through the first disk's bootloader (SeaBIOS)."""
    machine = ["-m", str(memory_mb), *network]
    if kernel is not None:
        assert initrd is not None
        machine += bootkit.direct_kernel(kernel, initrd, cmdline)
    return bootkit.run_qemu(machine, disks, log, timeout)


DPS_ROOT_X86_64 = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
"""The Discoverable Partitions type of an x86-64 root partition (image-deploy looks for it)."""
DEPLOY_HOST = "deployed"
READY_SCRIPT = """\
#!/bin/sh
# The deployed system says on the serial console that it is up, as debian-install's unit does.
echo "iguana-example: $(hostname) reached multi-user.target (kernel $(uname -r), up \
$(cut -d ' ' -f 1 /proc/uptime) s)" > /dev/ttyS0
"""
READY_UNIT = """\
[Unit]
Description=Say on the serial console that the deployed system is up
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/iguana-example-ready
ExecStartPost=/bin/systemctl --no-block poweroff

[Install]
WantedBy=multi-user.target
"""


def _configure_deployed(tree: Path, keep: str, root_uuid: str) -> None:
    """What makes the root a system of its own: only kernel ``keep``, fstab by UUID, host name,
    and the unit that prints the ready line and powers off (READY_ACTION=poweroff)."""
    for modules in (tree / "usr" / "lib" / "modules").iterdir():
        if modules.name != keep:
            shutil.rmtree(modules)
    for file in (tree / "boot").iterdir():
        if file.is_file() and not file.name.endswith(keep):
            file.unlink()
    (tree / "etc" / "fstab").write_text(f"UUID={root_uuid} / ext4 errors=remount-ro 0 1\n")
    (tree / "etc" / "hostname").write_text(f"{DEPLOY_HOST}\n")
    script = tree / "usr" / "local" / "sbin" / "iguana-example-ready"
    script.write_text(READY_SCRIPT)
    script.chmod(0o755)
    system = tree / "etc" / "systemd" / "system"
    (system / "iguana-example-ready.service").write_text(READY_UNIT)
    wants = system / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "iguana-example-ready.service").symlink_to("../iguana-example-ready.service")


DEPLOY_VERSION = "1"
"""Bumped when what ``deploy_image`` makes changes (part of its cache key)."""


def deploy_image(rootfs: Path, keep: str, cache: Path = bootkit.CACHE) -> Path:
    """A raw GPT disk image whose one partition (DPS root type) holds an ext4 made from
    ``rootfs`` (``mkfs.ext4 -d``: no loop device) with only kernel ``keep``, zstd-compressed:
    what image-deploy streams. Cached by the root's name, ``keep`` and DEPLOY_VERSION."""
    key = _key(rootfs.name, keep, DEPLOY_VERSION, READY_SCRIPT, READY_UNIT)
    path = cache / f"debian-deploy-{key}.img.zst"
    if path.exists():
        return path
    root_uuid = str(uuid.UUID(hex=hashlib.sha256(key.encode()).hexdigest()[:32], version=4))
    with tempfile.TemporaryDirectory(dir=cache, prefix="debian-deploy-") as partial:
        top = Path(partial)
        tree = top / "root"
        tree.mkdir()
        bootkit.run(["tar", "-C", str(tree), "--numeric-owner", "--xattrs", "-xpf", str(rootfs)])
        _configure_deployed(tree, keep, root_uuid)
        used_mb = int(bootkit.run(["du", "-sm", str(tree)]).stdout.split()[0])
        fs_mb = used_mb * 5 // 4 + 64
        fs = top / "root.ext4"
        bootkit.run(
            ["mkfs.ext4", "-q", "-F", "-L", "deployed-root", "-U", root_uuid, "-d", str(tree),
             str(fs), f"{fs_mb}M"]
        )  # fmt: skip
        disk = bootkit.blank_image(top / "disk.img", fs_mb + 2)
        table = f"label: gpt\nstart=2048, size={fs_mb * 2048}, type={DPS_ROOT_X86_64}\n"
        bootkit.run(["sfdisk", "--quiet", str(disk)], input=table)
        bootkit.run(
            ["dd", f"if={fs}", f"of={disk}", "bs=1M", "seek=1", "conv=notrunc,sparse",
             "status=none"]
        )  # fmt: skip
        compressed = top / "disk.img.zst"
        bootkit.run(["zstd", "-q", "-T0", "-3", str(disk), "-o", str(compressed)])
        compressed.rename(path)
    return path
