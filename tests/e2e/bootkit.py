"""The parts of the boot test: a Debian kernel (downloaded, never installed), initrds built
from ``dracut/``, an installer image in a registry store, disk images, and QEMU.

Nothing here needs root privileges beyond what the tools themselves need, no loop device and no
network except 127.0.0.1 (the registry that fills the store) and the Debian mirror (the kernel).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.images import build_image, busybox_rootfs_tar, image_store
from tests.support.podman_cli import PodmanCli, podman_env
from tests.support.registry import Registry

REPO = Path(__file__).resolve().parents[2]
BUILD_INITRD = REPO / "dracut" / "build-initrd.sh"
CACHE = Path(os.environ.get("IGUANA_TEST_CACHE", "/var/cache/iguana-test")) / "e2e"
"""Slow builds (kernels, root file systems, images) keyed by their inputs, outside the clone:
CI clones afresh each run, and the cache only ever saves time (it is never required)."""
FIGURES_DIR = REPO / "build" / "e2e"
"""Where a run leaves its measured figures (figures.json) for the README."""
DRIVERS = "virtio_blk virtio_pci ext4 overlay loop"
"""Kernel modules the QEMU machine needs; the initrd carries only these (and dependencies)."""

MARKER = "IGUANA-E2E: the installed system is running"
SOURCE_LABEL = "IGUANA-SRC"
REPORT_LABEL = "IGUANA-REPORT"
ROOT_LABEL = "IGUANA-ROOT"
IMAGE = "registry.iguana.test/e2e/installer:1"
"""The workflow's image: a registry that does not exist, reached through the store mirror."""
HOST_TOOLS = ("/usr/sbin/sfdisk", "/usr/sbin/mke2fs", "/usr/sbin/blockdev", "/usr/bin/flock")
CPU = "qemu64,+rdrand"
"""The emulated CPU: QEMU's default with RDRAND, as every x86 machine of the last ten years has.
Debian's kernel trusts it to seed its random number generator at once; without it the guest
has no source of randomness but the kernel's jitter entropy, which spins a CPU for seconds at
the first read that must not block (Python's start, podman's), a cost real machines do not pay."""
EMULATION_OPTIONS = "no_timer_check"
"""Added to every directly booted kernel's command line: under software emulation on a busy
host the kernel's IO-APIC timer check can miss its window and panic the guest."""


def run(
    argv: list[str], *, check: bool = True, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run a command; AssertionError with its output when it fails (unless not ``check``)."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Kernel:
    """A kernel unpacked from its Debian package, with depmod'ed modules."""

    release: str
    vmlinuz: Path
    moddir: Path


def debian_kernel(cache: Path = CACHE) -> Kernel:
    """The kernel ``linux-image-amd64`` depends on, unpacked under ``cache`` (once)."""
    depends = run(["apt-cache", "depends", "linux-image-amd64"], check=False).stdout
    found = re.search(r"Depends: (linux-image-(\S+))", depends)
    if not found:
        # A machine whose package lists were never fetched knows no kernel package yet.
        run(["apt-get", "update", "-qq"])
        depends = run(["apt-cache", "depends", "linux-image-amd64"]).stdout
        found = re.search(r"Depends: (linux-image-(\S+))", depends)
    assert found, f"apt-cache names no kernel for linux-image-amd64:\n{depends}"
    package, release = found.group(1), found.group(2)
    root = cache / package
    if not (root / ".complete").exists():
        partial = cache / f"{package}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        run(["apt-get", "download", package], cwd=partial)
        (deb,) = partial.glob("*.deb")
        run(["dpkg", "-x", str(deb), str(partial / "root")])
        deb.unlink()
        run(["depmod", "-b", str(partial / "root"), release])
        (partial / ".complete").touch()
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
    return Kernel(
        release,
        root / "root" / "boot" / f"vmlinuz-{release}",
        root / "root" / "lib" / "modules" / release,
    )


def build_initrd(
    output: Path,
    kernel: Kernel,
    *,
    systemd: bool = True,
    offline: bool = True,
    podman_only: bool = False,
    network: bool = False,
    confdir: Path | None = None,
) -> Path:
    """An initrd from ``dracut/build-initrd.sh`` with only the QEMU machine's drivers; with
    ``network`` also dracut's network-legacy and virtio_net, with ``confdir`` that /etc/iguana."""
    argv = [str(BUILD_INITRD), "--kver", kernel.release, "--kmoddir", str(kernel.moddir)]
    argv += ["--drivers", DRIVERS + (" virtio_net" if network else "")]
    if network:
        argv.append("--network")
    if confdir is not None:
        argv += ["--confdir", str(confdir)]
    if not systemd:
        argv.append("--no-systemd")
    if podman_only:
        argv.append("--podman-only")
    elif offline:
        argv.append("--offline")
    run([*argv, str(output)], env={**os.environ, "TMPDIR": str(output.parent)})
    return output


def _copy_with_libraries(binary: Path, root: Path) -> None:
    """Copy a dynamically linked host binary into ``root`` with every library ldd names."""
    files = {binary}
    for line in run(["ldd", str(binary)]).stdout.splitlines():
        for word in line.split():
            if word.startswith("/"):
                files.add(Path(word))
    for source in files:
        target = root / source.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source.resolve(), target)


INSTALL_SCRIPT = """\
#!/bin/sh
# The installer job of the boot test: STEP=partition makes TARGET a one-partition GPT disk with
# an ext4 root unpacked from /rootfs.tar; STEP=mountlist names that root; STEP=fail fails;
# STEP=flaky fails the first time only (its mark is in /iguana, which survives a resume).
set -eu
export PATH=/bin:/usr/bin:/usr/sbin:/sbin
case "$STEP" in
partition)
    # The whole disk stays locked (a BSD lock, systemd's block device locking) while it is
    # partitioned, formatted and filled: udev then does not re-read its partition table after
    # sfdisk's close, which removes and re-adds the partition's node under mkfs; it handles the
    # disk's events once the lock is gone.
    exec 9<"$TARGET"
    flock 9
    printf 'label: gpt\\n,,L\\n' | sfdisk --quiet "$TARGET"
    part=${TARGET}1
    name=${part##*/}
    i=0
    while [ ! -b "$part" ]; do
        # /dev may be a copy made when the container started: make the node from sysfs.
        if [ -r "/sys/class/block/$name/dev" ]; then
            IFS=: read -r major minor < "/sys/class/block/$name/dev"
            mknod "$part" b "$major" "$minor"
        fi
        i=$((i + 1))
        [ "$i" -lt 50 ] || { echo "e2e: $part did not appear" >&2; exit 1; }
        sleep 0.2
    done
    mkfs.ext4 -q -F -L IGUANA-ROOT "$part"
    mkdir -p /mnt/root
    # -t: the kernel loads ext4 on demand; busybox tries only /proc/filesystems without it
    mount -t ext4 "$part" /mnt/root
    tar -C /mnt/root -xf /rootfs.tar
    umount /mnt/root
    exec 9<&-
    echo "e2e: installed the root on $part"
    ;;
mountlist)
    echo "LABEL=IGUANA-ROOT /" > /iguana/mountlist
    echo "e2e: wrote /iguana/mountlist"
    ;;
fail)
    echo "e2e: this job fails on purpose" >&2
    exit 3
    ;;
flaky)
    if [ ! -e /iguana/flaky-once ]; then
        touch /iguana/flaky-once
        echo "e2e: flaky fails the first time" >&2
        exit 4
    fi
    echo "e2e: flaky succeeds the second time"
    ;;
*)
    echo "e2e: unknown STEP=$STEP" >&2
    exit 2
    ;;
esac
"""

INIT_SCRIPT = """\
#!/bin/sh
# The installed system: say so on the console, with the uptime (kernel start to here), then
# power off so that QEMU ends.
exec > /dev/console 2>&1
mount -t proc proc /proc
echo "{marker} (kernel $(uname -r), uptime $(cut -d ' ' -f 1 /proc/uptime) s)"
ls /var/log/iguana
sync
poweroff -f
"""


def installed_root_tar(directory: Path, busybox_tar: Path, release: str) -> Path:
    """The tiny root the installer unpacks: busybox, an /sbin/init that prints the marker and
    powers off, and /lib/modules/RELEASE so that Iguana's ending is switch-root."""
    root = directory / "installed-root"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with tarfile.open(busybox_tar) as tar:
        tar.extractall(root, filter="tar")
    (root / "sbin").mkdir(exist_ok=True)
    init = root / "sbin" / "init"
    init.write_text(INIT_SCRIPT.replace("{marker}", MARKER))
    init.chmod(0o755)
    (root / "lib" / "modules" / release).mkdir(parents=True)
    # systemd switches only into a root that has an os-release file.
    (root / "etc" / "os-release").write_text('ID=iguana-e2e\nNAME="Iguana boot test"\n')
    (root / "var" / "log").mkdir(parents=True, exist_ok=True)
    tar_path = directory / "installed-root.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(root, arcname=".")
    shutil.rmtree(root)
    return tar_path


def installer_rootfs_tar(directory: Path, busybox_tar: Path, release: str) -> Path:
    """The installer image's file system: busybox, sfdisk, mke2fs and flock from the host with
    their libraries, /rootfs.tar (the root it installs) and /install.sh."""
    root = directory / "installer-root"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with tarfile.open(busybox_tar) as tar:
        tar.extractall(root, filter="tar")
    for tool in HOST_TOOLS:
        _copy_with_libraries(Path(tool), root)
    (root / "usr" / "sbin" / "mkfs.ext4").symlink_to("mke2fs")
    if Path("/etc/mke2fs.conf").exists():
        shutil.copy2("/etc/mke2fs.conf", root / "etc" / "mke2fs.conf")
    shutil.copy2(installed_root_tar(directory, busybox_tar, release), root / "rootfs.tar")
    script = root / "install.sh"
    script.write_text(INSTALL_SCRIPT)
    script.chmod(0o755)
    tar_path = directory / "installer.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(root, arcname=".")
    shutil.rmtree(root)
    return tar_path


@dataclass(frozen=True)
class OfflineStores:
    """What the image source disk carries: ``registry`` (a docker-registry store, served as a
    mirror) and ``containers`` (a podman image store, used in place), both holding ``IMAGE``;
    ``pinned`` is IMAGE by its manifest digest (``repo@sha256:...``)."""

    registry: Path
    containers: Path
    pinned: str


def registry_store(directory: Path, release: str) -> OfflineStores:
    """Both offline stores holding ``IMAGE``: built with podman in a private storage and pushed
    through a registry on 127.0.0.1 (whose directory is the registry store); the podman store
    is made with the operator's commands (``tests.support.images.image_store``), pulling the
    pinned IMAGE through a registries.conf that mirrors its registry to that registry."""
    work = directory / "build"
    work.mkdir(parents=True)
    busybox = busybox_rootfs_tar(work)
    rootfs = installer_rootfs_tar(work, busybox, release)
    env = podman_env(work / "conf")
    podman = PodmanCli(work / "storage", work / "runroot", env)
    try:
        name = build_image(podman, "localhost/e2e/installer:1", "exec /install.sh", rootfs)
        with Registry(directory / "registry") as registry:
            digest = work / "digest"
            destination = f"docker://{registry.host}/{IMAGE}"
            podman.run("push", "--tls-verify=false", "--digestfile", str(digest), name, destination)
            pinned = f"{IMAGE.rsplit(':', 1)[0]}@{digest.read_text().strip()}"
            mirror = work / "registries.conf"
            host = IMAGE.split("/", 1)[0]
            mirror.write_text(
                f'[[registry]]\nprefix = "{host}"\nlocation = "{host}"\n'
                f'[[registry.mirror]]\nlocation = "{registry.host}/{host}"\ninsecure = true\n'
            )
            store = image_store(
                directory / "podman", [pinned], {**env, "CONTAINERS_REGISTRIES_CONF": str(mirror)}
            )
    finally:
        podman.run("rmi", "--all", "--force", check=False)
        podman.remove_runroot()
    shutil.rmtree(work, ignore_errors=True)
    return OfflineStores(directory / "registry" / "data", store, pinned)


def workflow_yaml(*steps: str, image: str = IMAGE) -> str:
    """A workflow with one job per step, each the installer ``image`` with ``STEP=step``."""
    lines = ["name: iguana-e2e", "jobs:"]
    for step in steps:
        lines += [
            f"  {step}:",
            "    container:",
            f"      image: {image}",
            "      env:",
            f"        STEP: {step}",
            "        TARGET: /dev/vdb",
        ]
    return "\n".join(lines) + "\n"


def ext4_image(path: Path, size_mb: int, label: str, content: Path | None = None) -> Path:
    """An ext4 file system image, filled from ``content`` (mkfs.ext4 -d: no mount needed)."""
    path.unlink(missing_ok=True)
    argv = ["mkfs.ext4", "-q", "-F", "-L", label]
    if content is not None:
        argv += ["-d", str(content)]
    run([*argv, str(path), f"{size_mb}M"])
    return path


def blank_image(path: Path, size_mb: int) -> Path:
    """A sparse disk image of zeros."""
    with path.open("wb") as handle:
        handle.truncate(size_mb * 1024 * 1024)
    return path


def partition_offset(disk: Path, number: int) -> int:
    """Byte offset of partition ``number`` (1-based) of a disk image, from its table."""
    table = json.loads(run(["sfdisk", "--json", str(disk)]).stdout)["partitiontable"]
    sector = int(table.get("sectorsize", 512))
    return int(table["partitions"][number - 1]["start"]) * sector


def read_file(image: Path, path: str, offset: int = 0) -> str:
    """A file from an ext4 image (at ``offset`` bytes into it), read with debugfs."""
    result = run(["debugfs", "-R", f"cat {path}", f"{image}?offset={offset}"])
    if "not found" in result.stderr or "File not found" in result.stderr:
        raise AssertionError(f"{path} is not on {image}: {result.stderr.strip()}")
    return result.stdout


def list_dir(image: Path, path: str, offset: int = 0) -> list[str]:
    """Names in a directory of an ext4 image, read with debugfs."""
    result = run(["debugfs", "-R", f"ls -p {path}", f"{image}?offset={offset}"])
    names = [line.split("/")[5] for line in result.stdout.splitlines() if line.count("/") >= 6]
    return sorted(name for name in names if name not in (".", ".."))


Reply = tuple[str, str, bool]
"""``(text, answer, nudge)`` for ``boot``: type ``answer`` when the console shows ``text``."""


@dataclass(frozen=True)
class Boot:
    """One QEMU run: its exit status, wall time and serial console text."""

    returncode: int
    seconds: float
    console: str


def boot(
    kernel: Kernel,
    initrd: Path,
    disks: list[Path],
    cmdline: str,
    log: Path,
    timeout: float = 600.0,
    replies: Sequence[Reply] = (),
    network: Sequence[str] = ("-nic", "none"),
    memory_mb: int = 1024,
) -> Boot:
    """Boot ``kernel`` + ``initrd`` under QEMU (software emulation, no network unless
    ``network`` gives QEMU's network arguments: ``netkit.qemu_network``) with ``disks``
    as virtio disks vda, vdb, ... and the serial console written to ``log``; ``memory_mb`` of
    guest memory. ``replies`` are
    ``(text, answer, nudge)``: when the console shows ``text``, ``answer`` is typed (in order);
    with ``nudge`` Enter is pressed every 3 s while the text is awaited."""
    machine = ["-m", str(memory_mb), *network, *direct_kernel(kernel, initrd, cmdline)]
    return run_qemu(machine, disks, log, timeout, replies=replies)


def direct_kernel(kernel: Kernel, initrd: Path, cmdline: str) -> list[str]:
    """QEMU's arguments that start ``kernel`` with ``initrd`` and ``cmdline`` (plus the
    options every emulated boot gets) instead of a firmware's boot loader."""
    return [
        "-kernel",
        str(kernel.vmlinuz),
        "-initrd",
        str(initrd),
        "-append",
        f"{cmdline} {EMULATION_OPTIONS}",
    ]


def run_qemu(
    machine: Sequence[str],
    disks: Sequence[Path],
    log: Path,
    timeout: float,
    *,
    replies: Sequence[Reply] = (),
    stop_at: str | None = None,
) -> Boot:
    """The one QEMU launcher of the boot tests: software emulation with 2 CPUs, no monitor, no
    reboot, ``machine``'s arguments (memory, network, firmware or kernel), ``disks`` as virtio
    disks vda, vdb, ... in order, the serial console written to ``log``, all of it ended after
    ``timeout`` seconds. ``replies``: see ``boot``; with ``stop_at`` QEMU is stopped as soon as
    the console shows that text."""
    argv = ["timeout", "--kill-after=10", str(int(timeout)), "qemu-system-x86_64"]
    argv += ["-accel", "tcg", "-cpu", CPU, "-smp", "2", *machine, "-nographic", "-monitor", "none"]
    argv += ["-no-reboot"]
    socket_path = log.with_suffix(".sock")
    if replies:
        chardev = f"socket,id=console,path={socket_path},server=on,wait=on,logfile={log}"
        argv += ["-chardev", chardev, "-serial", "chardev:console"]
    else:
        argv += ["-serial", f"file:{log}"]
    for disk in disks:
        argv += ["-drive", f"file={disk},if=virtio,format=raw"]
    began = time.monotonic()
    with subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) as qemu:
        if replies:
            _converse(socket_path, list(replies), qemu, began + timeout)
        while stop_at is not None and qemu.poll() is None:
            if log.exists() and stop_at in log.read_text(errors="replace"):
                qemu.terminate()
                break
            time.sleep(1)
        _, stderr = qemu.communicate(timeout=timeout + 30)
    seconds = time.monotonic() - began
    console = log.read_text(errors="replace") if log.exists() else ""
    if qemu.returncode != 0:
        console += f"\n[qemu exit {qemu.returncode}: {stderr.decode(errors='replace')}]"
    return Boot(qemu.returncode, seconds, console)


def _converse(
    path: Path, replies: list[Reply], qemu: subprocess.Popen[bytes], deadline: float
) -> None:
    """Read the console socket until QEMU ends, typing each answer when its text appears."""
    while not path.exists():
        if qemu.poll() is not None or time.monotonic() > deadline:
            return
        time.sleep(0.05)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as console:
        console.connect(str(path))
        console.settimeout(1.0)
        seen = ""
        nudged = time.monotonic()
        while time.monotonic() < deadline:
            try:
                data = console.recv(65536)
            except TimeoutError:
                data = b"-"
            if not data:
                return
            if data != b"-":
                seen += data.decode(errors="replace")
            if not replies:
                continue
            text, answer, nudge = replies[0]
            if text in seen:
                seen = seen[seen.index(text) + len(text) :]
                console.sendall(answer.encode())
                replies.pop(0)
                nudged = time.monotonic()
            elif nudge and time.monotonic() - nudged > 3:
                # A key typed before the program reads the console can be lost: press Enter
                # again until the awaited text shows up.
                console.sendall(b"\n")
                nudged = time.monotonic()


def record_figures(**figures: Any) -> None:
    """Keep measured figures for the README in build/e2e/figures.json, beside the others."""
    path = FIGURES_DIR / "figures.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update(figures)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
