"""The distribution packages, built from this tree with the distributions' own tools: a .deb
with dpkg-buildpackage (debhelper, dh-python) and an .rpm with rpmbuild from
packaging/iguana.spec. Each build works on a copy of the tree's files (never in the clone)."""

from __future__ import annotations

import hashlib
import os
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


ROOT_PACKAGES = (
    # What the .deb depends on and recommends (it is installed with dpkg -i, no resolver) ...
    *("python3", "python3-requests", "python3-structlog", "python3-transitions"),
    *("python3-urllib3", "python3-yaml", "dracut-core", "podman", "runc", "conmon", "gpgv"),
    *("docker-registry", "iproute2", "kexec-tools"),
    # ... and what the systemd initrd dracut builds there takes from the system.
    *("systemd", "udev", "kmod", "util-linux", "zstd"),
)


def clean_root_tar(cache: Path) -> Path:
    """A minimal Debian 12 root (mmdebstrap minbase) with the package's dependencies but not
    the package, as a tarball cached under ``cache`` keyed by the package list."""
    key = hashlib.sha256(" ".join(sorted(ROOT_PACKAGES)).encode()).hexdigest()[:16]
    tar_path = cache / f"iguana-deb-root-{key}.tar"
    if tar_path.exists():
        return tar_path
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"{tar_path.name}.partial.{os.getpid()}"
    argv = ["mmdebstrap", "--variant=minbase", "--format=tar", "--quiet"]
    argv += [f"--include={','.join(ROOT_PACKAGES)}"]
    for excluded in ("doc", "man", "locale", "info"):
        argv += [f"--dpkgopt=path-exclude=/usr/share/{excluded}/*"]
    try:
        run([*argv, "bookworm", str(partial)])
        partial.rename(tar_path)
    finally:
        partial.unlink(missing_ok=True)
    return tar_path


class ChrootMounts:
    """/dev, /proc and the kernel's modules mounted into a root for a chroot'ed dracut, all
    unmounted on exit (also when the build fails)."""

    def __init__(self, root: Path, moddir: Path, release: str) -> None:
        self._root = root
        self._mounts = [
            (["--bind", "/dev"], root / "dev"),
            (["-t", "proc", "proc"], root / "proc"),
            (["--bind", "-o", "ro", str(moddir)], root / "lib" / "modules" / release),
        ]
        self._done: list[Path] = []

    def __enter__(self) -> ChrootMounts:
        try:
            for options, target in self._mounts:
                target.mkdir(parents=True, exist_ok=True)
                run(["mount", *options, str(target)])
                self._done.append(target)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        for target in reversed(self._done):
            subprocess.run(["umount", "--lazy", str(target)], check=False, capture_output=True)
        self._done.clear()
