"""Iguana installs a real Debian system under QEMU with the example containers and workflow
(examples/), and the installed system runs on its own: switch-root into it, kexec into another
kernel version, and the installed disk booted again through its own bootloader.

Disks: vda the image source (registry store with the example images, the example workflows),
vdb the install target. The installed system's ready unit prints a line on ttyS0 when
multi-user.target is reached, then powers off (READY_ACTION=poweroff), so QEMU ends.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import bootkit, debiankit

pytestmark = pytest.mark.e2e

MEMORY_MB = 2048
"""Guest memory of the install boots: the pulled image (about 400 MB unpacked) lives in the
initrd's tmpfs."""
STANDALONE_MEMORY_MB = 512
"""Guest memory of the installed system booting alone."""
TARGET_MB = 1536
COMMON = (
    f"console=ttyS0 root=iguana panic=1 rd.shell=0 rd.iguana.images=LABEL={bootkit.SOURCE_LABEL} "
    "rd.iguana.control_url=/run/iguana/images/debian.yaml rd.iguana.env=TARGET_DISK=/dev/vdb "
    "rd.iguana.env=READY_ACTION=poweroff "
)


@dataclass(frozen=True)
class Install:
    """One install boot: its QEMU run, the target disk and the root partition's offset."""

    boot: bootkit.Boot
    target: Path
    offset: int

    def read(self, path: str) -> str:
        """A file of the installed root file system."""
        return bootkit.read_file(self.target, path, self.offset)

    def record(self) -> dict[str, Any]:
        """The boot record Iguana copied into the installed system."""
        return dict(json.loads(self.read("/var/log/iguana/state")))


@pytest.fixture(scope="module")
def releases(kernel: bootkit.Kernel) -> tuple[str, str]:
    """Iguana's kernel release and another Debian kernel version for the kexec boot."""
    other = debiankit.other_kernel()
    assert other.split("-")[0] != kernel.release.split("-")[0]
    return kernel.release, other


@pytest.fixture(scope="module")
def debian_source(tmp_path_factory: pytest.TempPathFactory, releases: tuple[str, str]) -> Path:
    """The image source disk: the example images in a registry store and the example
    workflows, as the offline image device carries them."""
    store = debiankit.registry_store(debiankit.rootfs_tar(releases))
    top = tmp_path_factory.mktemp("debian-source")
    tree = top / "tree"
    shutil.copytree(store, tree / "registry")
    for workflow in (bootkit.REPO / "examples" / "workflows").glob("*.yaml"):
        shutil.copy2(workflow, tree / workflow.name)
    size = sum(path.stat().st_size for path in tree.rglob("*") if path.is_file())
    return bootkit.ext4_image(
        top / "source.img", size // 2**20 + 64, bootkit.SOURCE_LABEL, content=tree
    )


def _install(
    directory: Path, kernel: bootkit.Kernel, initrd: Path, source: Path, host: str, keep: str
) -> Install:
    target = bootkit.blank_image(directory / "target.img", TARGET_MB)
    cmdline = COMMON + f"rd.iguana.env=HOSTNAME_NEW={host} rd.iguana.env=KERNEL={keep}"
    boot = debiankit.qemu_boot(
        [source, target],
        directory / "serial.log",
        memory_mb=MEMORY_MB,
        kernel=kernel,
        initrd=initrd,
        cmdline=cmdline,
    )
    assert boot.returncode == 0, f"qemu ended with {boot.returncode}:\n{boot.console[-5000:]}"
    return Install(boot, target, bootkit.partition_offset(target, 2))


@pytest.fixture(scope="module")
def switch_root_install(
    tmp_path_factory: pytest.TempPathFactory,
    kernel: bootkit.Kernel,
    systemd_initrd: Path,
    debian_source: Path,
    releases: tuple[str, str],
) -> Install:
    """The example workflow installs Debian keeping Iguana's own kernel version."""
    directory = tmp_path_factory.mktemp("debian-switch-root")
    return _install(directory, kernel, systemd_initrd, debian_source, "switched", releases[0])


def _ready_uptime(console: str, host: str, release: str) -> float:
    ready = debiankit.READY.format(host=host, release=release)
    found = re.search(re.escape(ready) + r"([0-9.]+) s\)", console)
    assert found, f"no {ready!r} on the console:\n{console[-5000:]}"
    return float(found.group(1))


FINISHED = r"iguana: finished with exit code 0.*?uptime ([0-9.]+) s"
KEXECED = r"\[ *([0-9.]+)\] kexec_core: Starting new kernel"


def _iguana_seconds(console: str, end: str = FINISHED) -> float:
    """Seconds from Iguana's start to ``end`` (its finish, or the kexec), by the guest's clock."""
    started = re.search(r"iguana: starting.*?uptime ([0-9.]+) s", console)
    finished = re.search(end, console)
    assert started and finished, console[-5000:]
    return round(float(finished.group(1)) - float(started.group(1)), 1)


def _check_installed(install: Install, host: str, action: str) -> dict[str, Any]:
    """What every install leaves: the jobs succeeded, the ending was ``action``, fstab names
    the root by UUID, the host name and the machine id Iguana settled are in place."""
    record = install.record()
    assert record["error"] is None
    assert {name: job["status"] for name, job in record["jobs"].items()} == {
        "partition": "succeeded",
        "install": "succeeded",
    }
    handoff = record["handoff"]
    assert handoff["action"] == action, handoff
    assert install.read("/etc/hostname").strip() == host
    machine_id = install.read("/etc/machine-id").strip()
    assert re.fullmatch(r"[0-9a-f]{32}", machine_id)
    # the id Iguana settled before the first job (/iguana/machine-id), which debian-install
    # wrote: the mount stage found a valid id there and kept it
    lines = install.read("/var/log/iguana/log.jsonl").splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    settled = [
        event["machine_id"]
        for event in events
        if event.get("event") in ("identity.generated", "identity.inherited", "identity.kept")
    ]
    assert settled == [machine_id]
    assert handoff["machine_id"] == "kept"
    probe = ["blkid", "-p", "-s", "UUID", "-o", "value", "--offset", str(install.offset)]
    root_uuid = bootkit.run([*probe, str(install.target)]).stdout.strip()
    fstab = [line.split() for line in install.read("/etc/fstab").splitlines()]
    assert [f"UUID={root_uuid}", "/", "ext4"] in [line[:3] for line in fstab if line]
    return record


def test_switch_root_into_installed_debian(
    switch_root_install: Install, releases: tuple[str, str]
) -> None:
    """With the installed kernel the same version as Iguana's, the boot switches root into the
    installed Debian, whose systemd reaches multi-user.target and runs the installer's unit."""
    install = switch_root_install
    record = _check_installed(install, "switched", "switch_root")
    assert [step["dest"] for step in record["history"]][-2:] == ["mount", "switch_root"]
    ready = _ready_uptime(install.boot.console, "switched", releases[0])
    progress = install.boot.console
    assert "debian-install: installed Debian on /dev/vdb" in progress
    bootkit.record_figures(
        debian_switch_root_install_seconds=_iguana_seconds(install.boot.console),
        debian_switch_root_ready_uptime=ready,
        debian_switch_root_qemu_seconds=round(install.boot.seconds, 1),
        debian_install_memory_mb=MEMORY_MB,
    )


def test_kexec_into_another_kernel_version(
    tmp_path: Path,
    kernel: bootkit.Kernel,
    systemd_initrd: Path,
    debian_source: Path,
    releases: tuple[str, str],
) -> None:
    """With another kernel version installed (KERNEL= in the workflow env), Iguana kexecs into
    the installed kernel and initrd, and that system reaches multi-user.target."""
    install = _install(tmp_path, kernel, systemd_initrd, debian_source, "kexeced", releases[1])
    record = _check_installed(install, "kexeced", "kexec")
    handoff = record["handoff"]
    assert handoff["release"] == releases[1]
    assert handoff["cmdline_source"].startswith("/boot/grub"), handoff
    assert bootkit.list_dir(install.target, "/usr/lib/modules", install.offset) == [releases[1]]
    ready = _ready_uptime(install.boot.console, "kexeced", releases[1])
    bootkit.record_figures(
        debian_kexec_install_seconds=_iguana_seconds(install.boot.console, KEXECED),
        debian_kexec_ready_uptime=ready,
        debian_kexec_qemu_seconds=round(install.boot.seconds, 1),
    )


def test_installed_disk_boots_through_its_bootloader(
    tmp_path: Path, switch_root_install: Install, releases: tuple[str, str]
) -> None:
    """The disk installed by the switch-root boot starts again with no -kernel and no -initrd:
    SeaBIOS runs the grub-pc that debian-install wrote, grub its kernel, and the system reaches
    multi-user.target without Iguana."""
    boot = debiankit.qemu_boot(
        [switch_root_install.target],
        tmp_path / "serial.log",
        memory_mb=STANDALONE_MEMORY_MB,
    )
    assert boot.returncode == 0, f"qemu ended with {boot.returncode}:\n{boot.console[-5000:]}"
    ready = _ready_uptime(boot.console, "switched", releases[0])
    assert "iguana: starting" not in boot.console
    bootkit.record_figures(
        debian_standalone_ready_uptime=ready,
        debian_standalone_qemu_seconds=round(boot.seconds, 1),
        debian_standalone_memory_mb=STANDALONE_MEMORY_MB,
    )
