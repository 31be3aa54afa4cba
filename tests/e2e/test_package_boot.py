"""The .deb installed into a clean Debian 12 root (dpkg -i, nothing from this tree), an initrd
built there by the stock dracut from the package's files and a dracut.conf.d snippet that
bundles the workflow, booted under QEMU to the same switch-root as the source-tree initrd."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e import bootkit, packagekit

pytestmark = pytest.mark.e2e

SNIPPET = """\
# What a distribution engineer writes (docs/packaging.md): Iguana and the offline registry,
# the workflow bundled, the tmpfs for container storage bounded.
add_dracutmodules+=" iguana iguana-images "
iguana_control=/etc/iguana-build/install.yaml
iguana_storage_size=60%
"""
MODULES = "bash base fs-lib kernel-modules udev-rules rootfs-block systemd systemd-initrd"
MODULES += " dracut-systemd"


def test_installed_package_builds_an_initrd_that_boots(
    tmp_path: Path, deb: Path, kernel: bootkit.Kernel, source_tree: Path
) -> None:
    """dpkg installs the package into a clean root; the root's own dracut, reading only the
    snippet in its /etc/dracut.conf.d, builds an initrd that carries the bundled workflow; the
    kernel command line names no workflow, and Iguana runs the bundled one to the switch-root
    into the installed system."""
    root = tmp_path / "root"
    root.mkdir()
    bootkit.run(["tar", "-C", str(root), "-xf", str(packagekit.clean_root_tar(bootkit.CACHE))])
    shutil.copy2(deb, root / "tmp" / deb.name)
    bootkit.run(["chroot", str(root), "dpkg", "-i", f"/tmp/{deb.name}"])
    assert (root / "usr/lib/dracut/modules.d/95iguana/module-setup.sh").exists()
    (root / "etc/iguana-build").mkdir()
    shutil.copy2(source_tree / "install.yaml", root / "etc/iguana-build/install.yaml")
    (root / "etc/dracut.conf.d/50-iguana.conf").write_text(SNIPPET)

    with packagekit.ChrootMounts(root, kernel.moddir, kernel.release):
        argv = ["chroot", str(root), "dracut", "--force", "--quiet", "--no-hostonly"]
        argv += ["--kver", kernel.release, "--modules", MODULES, "--drivers", bootkit.DRIVERS]
        bootkit.run([*argv, "--compress", "zstd", "/tmp/initrd.img"])
    initrd = tmp_path / "initrd.img"
    shutil.move(root / "tmp" / "initrd.img", initrd)
    shutil.rmtree(root)
    listing = bootkit.run(["lsinitrd", "-f", "etc/iguana/control.yaml", str(initrd)]).stdout
    assert listing == (source_tree / "install.yaml").read_text()

    source = bootkit.ext4_image(tmp_path / "source.img", 64, bootkit.SOURCE_LABEL, source_tree)
    target = bootkit.blank_image(tmp_path / "target.img", 64)
    cmdline = (
        "console=ttyS0 root=iguana panic=1 rd.shell=0 "
        f"rd.iguana.images=LABEL={bootkit.SOURCE_LABEL}"
    )
    result = bootkit.boot(kernel, initrd, [source, target], cmdline, tmp_path / "serial.log")

    assert result.returncode == 0, f"qemu ended with {result.returncode}:\n{result.console[-4000:]}"
    assert bootkit.MARKER in result.console, result.console[-4000:]
    offset = bootkit.partition_offset(target, 1)
    record = json.loads(bootkit.read_file(target, "/var/log/iguana/state", offset))
    assert record["state"] == "switch_root"
    assert record["error"] is None
    assert {name: job["status"] for name, job in record["jobs"].items()} == {
        "partition": "succeeded",
        "mountlist": "succeeded",
    }
