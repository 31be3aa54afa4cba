"""docs/containers.md's workstation walkthrough, run as written: its shell blocks build and push
a container, attach a loop device and run ``iguana run --sandbox``, ``status`` and ``logs``
(real podman, a TLS docker-registry on 127.0.0.1, a loop device)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.trust_support import CertAuthority, unmount_under
from tests.support.registry import Registry

pytestmark = pytest.mark.integration

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "containers.md"
SECTION = "## Try a container on a workstation"


def guide_blocks() -> list[str]:
    """The ```sh blocks of the guide's walkthrough section, in order."""
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short directory under /tmp for the commands and a podman storage of their own."""
    top = Path(tempfile.mkdtemp(prefix="igg-", dir="/tmp"))
    try:
        yield top
    finally:
        # the guide detaches its loop device; a run that failed half-way may not have
        listing = subprocess.run(
            ["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for name, _, backing in (line.partition(" ") for line in listing.splitlines()):
            if backing.strip().startswith(f"{top}/"):
                subprocess.run(["losetup", "-d", name], check=False)
        unmount_under(top)
        shutil.rmtree(top, ignore_errors=True)


def test_the_guides_walkthrough_runs(
    workdir: Path, podman_environment: dict[str, str], busybox_rootfs: Path
) -> None:
    """The guide's commands, run in order with ``set -e``, build and push the container, boot
    it in a sandbox against a loop device, and show its status, its progress in the log and
    what it wrote to the disk."""
    blocks = guide_blocks()
    assert len(blocks) == 3, "the walkthrough has three shell blocks"
    ca = CertAuthority.create(workdir / "ca")
    storage = workdir / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{workdir}/root"\nrunroot = "{workdir}/run"\n'
    )
    run_dir = workdir / "guide"
    run_dir.mkdir()
    with Registry(workdir / "registry", tls=ca.server_cert(workdir / "server"), ca=ca.cert) as reg:
        env = {
            **podman_environment,
            "CONTAINERS_STORAGE_CONF": str(storage),
            "REGISTRY": reg.host,
            "CA": str(ca.cert),
            "ROOTFS": str(busybox_rootfs),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "TMPDIR": str(workdir),
        }
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", "\n".join(blocks)],
            cwd=run_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        subprocess.run(
            ["podman", "rmi", "--all", "--force"], env=env, capture_output=True, check=False
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "status:   done" in result.stdout, output[-4000:]
    assert "job.progress" in result.stdout and "message=done" in result.stdout
    assert "hello from iguana" in result.stdout
    assert not list(workdir.glob("hello-*")), "the guide removes its sandbox"
