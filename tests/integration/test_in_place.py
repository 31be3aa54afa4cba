"""Images used in place, on real podman: a store made with the operator's commands
(``tests.support.images.image_store``, as docs/containers.md writes them) on an ext4 file system,
loop-mounted read-only and named in storage.conf's ``additionalimagestores``; whole boots through
``iguana run --sandbox`` once the registry is stopped, so that any pull would fail.

The image is the busybox rootfs plus 24 MiB of random bytes (``test_memory.padded_image``): a
copy into container storage would show.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.errors import ExitCode
from tests.integration.test_boot_runs import NEW_ROOT, Sandbox, World, job
from tests.integration.test_memory import MIB, PAD_MIB, padded_image
from tests.integration.trust_support import CertAuthority, unmount_under
from tests.support.images import image_store
from tests.support.podman_cli import PodmanCli
from tests.support.registry import Registry

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Device:
    """The read-only image device: its file, mount point, the storage.conf naming it, and
    the pinned references (``stored`` is on the device, ``other`` only in the registry)."""

    image: Path
    mount: Path
    storage_conf: Path
    stored: str
    other: str
    world: World


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def device(
    tmp_path_factory: pytest.TempPathFactory,
    podman_environment: dict[str, str],
    busybox_rootfs: Path,
) -> Iterator[Device]:
    """Two padded images in a TLS registry, the first pulled by digest into a store that is
    copied onto ext4 and loop-mounted read-only; the registry is stopped before the boots."""
    top = Path(tempfile.mkdtemp(prefix="igp-", dir="/tmp"))
    ca = CertAuthority.create(top / "ca")
    build = PodmanCli(top / "build", top / "build-run", podman_environment)
    mount = top / "mnt"
    try:
        with Registry(top / "registry", tls=ca.server_cert(top / "server"), ca=ca.cert) as registry:
            pinned = []
            for name in ("a", "b"):
                local = padded_image(build, f"localhost/igt/{name}:1", busybox_rootfs, top / "ctx")
                remote = f"docker://{registry.host}/igt/inplace:{name}"
                digest = top / f"{name}.digest"
                build.run("push", "--tls-verify=false", "--digestfile", str(digest), local, remote)
                pinned.append(f"{registry.host}/igt/inplace@{digest.read_text().strip()}")
            # the operator's podman trusts the registry's CA the way a user's podman does
            home = top / "operator"
            certs = home / ".config" / "containers" / "certs.d" / registry.host
            certs.mkdir(parents=True)
            shutil.copyfile(ca.cert, certs / "ca.crt")
            store = image_store(
                top / "store", pinned[:1], {**podman_environment, "HOME": str(home)}
            )
        tree = top / "tree"
        tree.mkdir()
        # as docs/containers.md says (device nodes of a layer stay nodes)
        subprocess.run(["cp", "-a", str(store), str(tree / "containers")], check=True)
        image = top / "device.img"
        subprocess.run(
            ["mkfs.ext4", "-q", "-L", "IGP", "-d", str(tree), str(image), "96M"], check=True
        )
        mount.mkdir()
        subprocess.run(["mount", "-o", "ro,loop", str(image), str(mount)], check=True)
        conf = top / "storage.conf"
        conf.write_text(
            # the sandbox's --root/--runroot replace the two roots; podman wants them set
            '[storage]\ndriver = "overlay"\nrunroot = "/run/containers/storage"\n'
            'graphroot = "/var/lib/containers/storage"\n\n[storage.options]\n'
            f'additionalimagestores = ["{mount / "containers"}"]\n'
        )
        world = World(
            registry, ca.cert, pinned[0], pinned[1], pinned[0], pinned[0], podman_environment
        )
        yield Device(image, mount, conf, pinned[0], pinned[1], world)
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, check=False)
        build.run("rmi", "--all", "--force", check=False)
        build.remove_runroot()
        unmount_under(top)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def box(device: Device) -> Iterator[Sandbox]:
    """A fresh sandbox under /tmp, removed with everything in it."""
    sandbox = Sandbox(Path(tempfile.mkdtemp(prefix="igp-box-", dir="/tmp")), device.world)
    try:
        yield sandbox
    finally:
        sandbox.close()


def _iguana(box: Sandbox, device: Device, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(device.storage_conf)}
    return subprocess.run(
        box.command(*args), capture_output=True, text=True, env=env, timeout=300, check=False
    )


def _events(box: Sandbox) -> list[dict[str, Any]]:
    return [json.loads(line) for line in box.paths.log.read_text().splitlines() if line]


def _storage_bytes(box: Sandbox) -> int:
    assert box.paths.storage is not None
    found = subprocess.run(
        ["du", "-sb", "-x", str(box.paths.storage)], capture_output=True, text=True, check=True
    )
    return int(found.stdout.split()[0])


def test_pinned_image_runs_from_the_device_without_a_pull(device: Device, box: Sandbox) -> None:
    """A job pinned to the digest the device's store holds runs with the registry stopped:
    nothing is pulled, container storage stays far below the image's size, the plan counts no
    RAM for it, the image is not removed after its last use, and the device is unchanged."""
    before = _sha256(device.image)
    box.write_workflow({"one": job(device.stored, "test -s /pad && " + NEW_ROOT)})
    result = _iguana(box, device, "run", "--workflow", str(box.workflow), "--batch")
    assert result.returncode == 0, result.stderr[-3000:]
    names = [event["event"] for event in _events(box)]
    assert "image.in_place" in names
    assert "image.pulled" not in names and "image.removed" not in names
    _, document = box.status()
    size = document["memory"]["images"][device.stored]
    assert size["in_place"] and size["unpacked"] > PAD_MIB * MIB
    assert document["memory"]["total"] == 0
    assert document["timings"]["pulls"] == {}
    assert _storage_bytes(box) < PAD_MIB * MIB // 4
    assert box.images() == []  # the writable store never held it
    assert _sha256(device.image) == before


def test_wrong_pin_is_refused_before_any_container(device: Device, box: Sandbox) -> None:
    """A pin the device's store does not hold for that repository (another image's digest)
    ends the boot in verify with one line naming the image, the job and both digests, exit
    code TRUST, no container created."""
    box.write_workflow({"setup": job(device.other, "true"), "two": job(device.stored, NEW_ROOT)})
    result = _iguana(box, device, "run", "--workflow", str(box.workflow), "--batch")
    assert result.returncode == ExitCode.TRUST, result.stderr[-3000:]
    _, document = box.status()
    error = document["error"]["message"]
    stored_digest = device.stored.split("@", 1)[1]
    assert f"image {device.other} (job setup)" in error
    assert stored_digest in error and "not the pinned" in error
    assert "\n" not in error
    assert document["jobs"] == {} or all(
        job_record["status"] == "pending" for job_record in document["jobs"].values()
    )
    assert box.labelled(document["run_id"]) == []


def test_dry_run_and_verify_show_the_image_in_place(device: Device, box: Sandbox) -> None:
    """``iguana run --dry-run`` and ``iguana verify`` say the pinned image is used in place
    from the device (no pull, no RAM for its layers)."""
    workflow = box.write_workflow({"one": job(device.stored, NEW_ROOT)})
    dry = _iguana(box, device, "run", "--dry-run", "--workflow", str(workflow))
    checked = _iguana(box, device, "verify", str(workflow))
    for result in (dry, checked):
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"image {device.stored}: used in place from the image device" in result.stdout


def test_dry_run_refuses_a_pin_the_device_contradicts(device: Device, box: Sandbox) -> None:
    """``iguana run --dry-run`` on a pin the device's store holds only under another digest
    prints the plan with the refusal and exits with the boot's TRUST code, one line on stderr
    naming the image and both digests, as the boot itself would refuse it in verify; so does
    ``iguana verify``."""
    workflow = box.write_workflow({"one": job(device.other, NEW_ROOT)})
    checked = _iguana(box, device, "verify", str(workflow))
    assert checked.returncode == ExitCode.TRUST, checked.stdout + checked.stderr
    result = _iguana(box, device, "run", "--dry-run", "--workflow", str(workflow))
    assert result.returncode == ExitCode.TRUST, result.stdout + result.stderr
    assert f"REFUSED: image {device.other}" in result.stdout
    error = [line for line in result.stderr.splitlines() if device.other in line]
    assert len(error) == 1, result.stderr
    assert device.stored.split("@", 1)[1] in error[0] and "not the pinned" in error[0]
    assert "Traceback" not in result.stderr
