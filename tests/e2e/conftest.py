"""Fixtures of the boot test: the kernel, the image source disk and the initrds, built once per
session under pytest's temp dir (the kernel package is cached under
``bootkit.CACHE``, outside the clone)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import bootkit, netkit, packagekit


@pytest.fixture(scope="session")
def kernel() -> bootkit.Kernel:
    """The Debian kernel that linux-image-amd64 names, unpacked and depmod'ed."""
    return bootkit.debian_kernel()


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory, kernel: bootkit.Kernel) -> Path:
    """What the image source disk holds: the registry store (the mirror, for the workflows
    that name the image by tag), the podman store (in place, for inplace.yaml, which pins it)
    and the test workflows."""
    top = tmp_path_factory.mktemp("source")
    stores = bootkit.registry_store(top / "store", kernel.release)
    tree = top / "tree"
    tree.mkdir()
    shutil.copytree(stores.registry, tree / "registry")
    # cp -a as docs/containers.md says: a layer's device nodes (an image's /dev/zero) must stay
    # nodes; shutil.copytree would read them
    bootkit.run(["cp", "-a", str(stores.containers), str(tree / "containers")])
    shutil.rmtree(top / "store")
    (tree / "install.yaml").write_text(bootkit.workflow_yaml("partition", "mountlist"))
    (tree / "inplace.yaml").write_text(
        bootkit.workflow_yaml("partition", "mountlist", image=stores.pinned)
    )
    (tree / "fail.yaml").write_text(bootkit.workflow_yaml("fail"))
    (tree / "flaky.yaml").write_text(bootkit.workflow_yaml("flaky", "partition", "mountlist"))
    return tree


@pytest.fixture(scope="session")
def systemd_initrd(tmp_path_factory: pytest.TempPathFactory, kernel: bootkit.Kernel) -> Path:
    """A systemd initrd with iguana and iguana-images for the QEMU machine."""
    directory = tmp_path_factory.mktemp("initrd-systemd")
    return bootkit.build_initrd(directory / "initrd.img", kernel, systemd=True)


@pytest.fixture(scope="session")
def shell_initrd(tmp_path_factory: pytest.TempPathFactory, kernel: bootkit.Kernel) -> Path:
    """An initrd without systemd: Iguana runs from the pre-mount hook."""
    directory = tmp_path_factory.mktemp("initrd-shell")
    return bootkit.build_initrd(directory / "initrd.img", kernel, systemd=False)


@pytest.fixture(scope="session")
def podman_only_initrd(tmp_path_factory: pytest.TempPathFactory, kernel: bootkit.Kernel) -> Path:
    """The baseline: the same systemd initrd with only the container stack."""
    directory = tmp_path_factory.mktemp("initrd-podman")
    return bootkit.build_initrd(directory / "initrd.img", kernel, podman_only=True)


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Debian package built from this tree (dpkg-buildpackage), once per session."""
    return packagekit.build_deb(tmp_path_factory.mktemp("deb"))


@pytest.fixture(scope="session")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Iterator[netkit.Trust]:
    """The network boots' CA, server certificate, GPG key and the initrd's /etc/iguana."""
    made = netkit.make_trust(tmp_path_factory.mktemp("net-trust"))
    yield made
    made.key.close()


@pytest.fixture(scope="session")
def net_initrds(
    tmp_path_factory: pytest.TempPathFactory, kernel: bootkit.Kernel, trust: netkit.Trust
) -> dict[str, Path]:
    """A systemd and a shell initrd with network-legacy and the test's /etc/iguana, shared by
    every network boot of the session."""
    built = {}
    for init in ("systemd", "shell"):
        directory = tmp_path_factory.mktemp(f"initrd-net-{init}")
        built[init] = bootkit.build_initrd(
            directory / "initrd.img",
            kernel,
            systemd=init == "systemd",
            offline=False,
            network=True,
            confdir=trust.confdir,
        )
    return built
