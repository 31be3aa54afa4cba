"""The Debian package and the RPM build with the distributions' tools, hold the same files,
and the installed command runs with Debian's own libraries plus the package's private
podman-py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e import packagekit
from tests.e2e.bootkit import REPO

pytestmark = pytest.mark.integration

PRIVATE = "/usr/lib/iguana/python"
# What only one packaging system adds, by its own conventions: Debian's changelog (which, in a
# native package, takes the place of the upstream CHANGELOG.md) and copyright, dh_python3's
# byte-compilation hook; the RPM's license directory.
DEB_ONLY = {
    "/usr/share/doc/iguana/changelog",
    "/usr/share/doc/iguana/copyright",
    "/usr/share/python3/runtime.d/iguana.rtupdate",
}
RPM_ONLY = {"/usr/share/licenses/iguana-{version}/LICENSE", "/usr/share/doc/iguana/CHANGELOG.md"}


@pytest.fixture(scope="module")
def rpm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .rpm, built once for this module."""
    return packagekit.build_rpm(tmp_path_factory.mktemp("rpm"))


def _plain(path: str) -> str:
    """A packaged path without the compression its tools add to man pages and docs."""
    return path.removesuffix(".gz")


def test_deb_and_rpm_list_the_same_files(deb: Path, rpm: Path) -> None:
    """Both packages install the same files (compression aside), apart from each packaging
    system's own additions; among them the CLI, the private library with podman-py, the three
    dracut modules, the schema, the example dracut snippet, a man page per verb and the bash
    completion."""
    rpm_only = {name.format(version=packagekit.version()) for name in RPM_ONLY}
    in_deb = {_plain(path) for path in packagekit.deb_files(deb)} - DEB_ONLY
    in_rpm = {_plain(path) for path in packagekit.rpm_files(rpm)} - rpm_only

    assert in_deb == in_rpm, (sorted(in_deb - in_rpm), sorted(in_rpm - in_deb))
    assert {_plain(path) for path in packagekit.deb_files(deb)} >= DEB_ONLY
    assert rpm_only <= packagekit.rpm_files(rpm)
    expected = {
        "/usr/bin/iguana",
        f"{PRIVATE}/iguana_fsm/cli.py",
        f"{PRIVATE}/iguana_fsm/data/workflow.schema.json",
        f"{PRIVATE}/podman/__init__.py",
        f"{PRIVATE}/podman/LICENSE",
        "/usr/lib/dracut/modules.d/94iguana-podman/module-setup.sh",
        "/usr/lib/dracut/modules.d/95iguana/module-setup.sh",
        "/usr/lib/dracut/modules.d/95iguana/python-closure.py",
        "/usr/lib/dracut/modules.d/95iguana-images/module-setup.sh",
        "/usr/share/iguana/workflow.schema.json",
        "/usr/share/doc/iguana/examples/50-iguana.conf",
        "/usr/share/bash-completion/completions/iguana",
        "/usr/share/man/man1/iguana.1",
    }
    assert expected <= in_deb
    pages = {path for path in in_deb if path.startswith("/usr/share/man/man1/iguana-")}
    assert len(pages) >= 5
    assert not [path for path in in_deb | in_rpm if "__pycache__" in path or "/tests/" in path]


def test_deb_metadata(deb: Path) -> None:
    """The .deb depends on Debian's own libraries (structlog from 22.3, Debian 12's), the
    container stack and dracut, and on no python3-podman (Debian 12 has none)."""
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Depends", "Architecture", "Version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "python3-structlog (>= 22.3)" in fields
    for package in ("python3-transitions", "python3-yaml", "python3-requests", "dracut-core"):
        assert package in fields
    assert "podman" in fields and "python3-podman" not in fields
    assert "Architecture: all" in fields
    assert f"Version: {packagekit.version()}" in fields


def test_unpacked_deb_runs_with_debian_python(deb: Path, tmp_path: Path) -> None:
    """The packaged iguana, run by Debian's python3 -I (its dist-packages, no virtualenv),
    validates a workflow and takes podman from the private directory and structlog from
    Debian."""
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    wrapper = (root / "usr/bin/iguana").read_text()
    assert wrapper.startswith("#!/usr/bin/python3 -I\n") and f'"{PRIVATE}"' in wrapper
    program = (
        "import sys\n"
        f"sys.path.insert(0, {str(root) + PRIVATE!r})\n"
        "import podman, structlog\n"
        "print(podman.__file__, structlog.__file__)\n"
        "from iguana_fsm.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    workflow = REPO / "tests" / "data" / "prototype-workflows" / "agama.yaml"

    result = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", program, "validate", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    podman_file, structlog_file = result.stdout.split()[:2]
    assert podman_file.startswith(str(root) + PRIVATE)
    assert structlog_file.startswith("/usr/lib/python3/dist-packages/")
