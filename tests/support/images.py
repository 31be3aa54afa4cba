"""Tiny busybox images built offline: a busybox-static rootfs, ``FROM scratch``, about 1 MB."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.podman_cli import PodmanCli

BUSYBOX = Path("/bin/busybox")


def busybox_rootfs_tar(directory: Path) -> Path:
    """Write ``rootfs.tar`` into ``directory``: /bin/busybox (static) with a symlink for each
    applet, and empty /tmp /proc /sys /dev /etc /run. Fails loudly without busybox-static."""
    output = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=False)
    assert output.returncode == 0, f"{BUSYBOX} missing: apt-get install -y busybox-static"
    assert _is_static(BUSYBOX), f"{BUSYBOX} is not static: apt-get install -y busybox-static"
    root = directory / "rootfs"
    shutil.rmtree(root, ignore_errors=True)
    (root / "bin").mkdir(parents=True)
    for name in ("tmp", "proc", "sys", "dev", "etc", "run", "var"):
        (root / name).mkdir()
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in output.stdout.split():
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    tar_path = directory / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(root, arcname=".")
    shutil.rmtree(root)
    return tar_path


def _is_static(binary: Path) -> bool:
    """True when the ELF file has no program interpreter (no dynamic loader)."""
    return b"/ld-linux" not in binary.read_bytes()[:4096]


def containerfile(
    script: str, healthcheck: str | None = None, command: list[str] | None = None
) -> str:
    """A Containerfile: the busybox rootfs, PATH=/bin, ``sh -c SCRIPT`` (or ``command``) as
    the command and an optional shell health check run every second."""
    lines = ["FROM scratch", "ADD rootfs.tar /", "ENV PATH=/bin"]
    if healthcheck is not None:
        lines.append(f"HEALTHCHECK --interval=1s --timeout=5s --retries=1 CMD {healthcheck}")
    lines.append(f"CMD {json.dumps(command or ['sh', '-c', script])}")
    return "\n".join(lines) + "\n"


def build_image(
    podman: PodmanCli,
    name: str,
    script: str,
    rootfs_tar: Path,
    *,
    healthcheck: str | None = None,
    command: list[str] | None = None,
) -> str:
    """Build ``name`` (e.g. ``localhost/iguana-test/echo:1``) in ``podman``'s storage from the
    busybox rootfs; its command is ``sh -c script`` (or ``command``). Docker format, so a
    health check is kept. Returns ``name``."""
    text = containerfile(script, healthcheck, command)
    context = rootfs_tar.parent / ("ctx-" + hashlib.sha256(text.encode()).hexdigest()[:16])
    context.mkdir(exist_ok=True)
    (context / "Containerfile").write_text(text)
    target = context / "rootfs.tar"
    if not target.exists():
        target.hardlink_to(rootfs_tar)
    podman.run("build", "--quiet", "--format", "docker", "--tag", name, str(context))
    return name


def push_image(podman: PodmanCli, name: str, destination: str, *, tls_verify: bool) -> None:
    """Push a local image to ``destination`` (``127.0.0.1:PORT/repo:tag``); plain-http
    registries need ``tls_verify=False``."""
    podman.run("push", f"--tls-verify={str(tls_verify).lower()}", name, f"docker://{destination}")


def save_oci_archive(podman: PodmanCli, name: str, archive: Path) -> Path:
    """Write ``name`` as an OCI archive (``podman run oci-archive:FILE`` runs it offline)."""
    podman.run("save", "--format", "oci-archive", "--output", str(archive), name)
    return archive


def image_store(store: Path, references: Sequence[str], env: Mapping[str, str]) -> Path:
    """The operator's commands of docs/containers.md ("Images used in place"): pull each
    pinned reference with ``podman --root STORE/containers --runroot STORE/run pull``, then
    drop the runroot; ``STORE/containers`` is what goes onto the image device as
    ``containers/``. ``env`` reaches podman (registries.conf, certificates). Returns it."""
    podman = PodmanCli(store / "containers", store / "run", env)
    try:
        for reference in references:
            podman.run("pull", "--quiet", reference)
    finally:
        podman.remove_runroot()
        shutil.rmtree(store / "run", ignore_errors=True)
    return store / "containers"
