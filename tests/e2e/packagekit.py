"""The distribution packages, built from this tree with the distributions' own tools: a .deb
with dpkg-buildpackage (debhelper, dh-python) and an .rpm with rpmbuild from
packaging/iguana.spec. Each build works on a copy of the tree's files (never in the clone)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from tests.e2e.bootkit import REPO, run

NAME = "iguana"


def version() -> str:
    """The version the packages carry (iguana_fsm.__version__)."""
    namespace: dict[str, str] = {}
    exec((REPO / "iguana_fsm" / "__init__.py").read_text(), namespace)
    return namespace["__version__"]


def _tree_files() -> list[str]:
    """The files of the tree: tracked ones and new ones git does not ignore."""
    listing = run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    ).stdout
    return [name for name in listing.split("\0") if name and (REPO / name).is_file()]


def copy_tree(destination: Path) -> Path:
    """Copy the tree's files (no venv, build output or caches) to ``destination``."""
    for name in _tree_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return destination


def build_deb(work: Path) -> Path:
    """iguana_VERSION_all.deb built by dpkg-buildpackage -b from a copy of the tree."""
    source = copy_tree(work / NAME)
    run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=source)
    (deb,) = work.glob(f"{NAME}_*_all.deb")
    return deb


def build_rpm(work: Path) -> Path:
    """The noarch .rpm built by rpmbuild -bb from packaging/iguana.spec and a source tarball.
    openSUSE's build requirements are not installed here as RPMs, hence --nodeps."""
    top = f"{NAME}-{version()}"
    staging = copy_tree(work / "staging" / top)
    sources = work / "SOURCES"
    sources.mkdir(parents=True)
    with tarfile.open(sources / f"{top}.tar.gz", "w:gz") as tar:
        tar.add(staging, arcname=top)
    shutil.rmtree(work / "staging")
    spec = REPO / "packaging" / f"{NAME}.spec"
    run(["rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {work}", str(spec)])
    (rpm,) = (work / "RPMS" / "noarch").glob(f"{NAME}-*.noarch.rpm")
    return rpm


def deb_files(deb: Path) -> set[str]:
    """The regular files and links a .deb installs (dpkg-deb -c)."""
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout
    files = set()
    for line in listing.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("d"):
            files.add(fields[5].removeprefix("."))
    return files


def rpm_files(rpm: Path) -> set[str]:
    """The regular files and links an .rpm installs (rpm -qp --dump: directories left out)."""
    dump = subprocess.run(
        ["rpm", "-qp", "--dump", str(rpm)], capture_output=True, text=True, check=True
    ).stdout
    files = set()
    for line in dump.splitlines():
        path, _size, _mtime, _digest, mode = line.split()[:5]
        if int(mode, 8) & 0o170000 != 0o040000:
            files.add(path)
    return files
