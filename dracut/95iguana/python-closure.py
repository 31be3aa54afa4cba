"""List the Python files the initrd needs: Iguana, its dependencies and the stdlib they import.

Run at initrd build time by module-setup.sh with the interpreter the initrd will carry, as
``python3 -I -S python-closure.py [--path DIR]...``. It imports every module of ``iguana_fsm``
and every submodule of each package that gets imported (lazy imports inside a package are then
covered too), and prints ``SOURCE<TAB>DESTINATION`` for each file: the stdlib keeps its path,
everything found on a ``--path`` directory goes to the interpreter's dist-packages. Nothing of
Python that Iguana does not import reaches the initrd (no tests, ensurepip, tkinter or idle).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import sys
import sysconfig
from pathlib import Path

ROOT_PACKAGE = "iguana_fsm"
# Modules whose import would pull in what the initrd must not carry or cannot run.
SKIP_PREFIXES = (
    "transitions.extensions.diagrams",
    "transitions.extensions.asyncio",
    "transitions.extensions.factory",
    "transitions.extensions.markup",
    "transitions.extensions.nesting",
    "transitions.extensions.locking",
    "transitions.extensions.states",
    "iguana_fsm.diagram",
    "structlog.twisted",
    "structlog.stdlib",
    "structlog.testing",
    "structlog.typing",
    "urllib3.contrib",
    "urllib3.http2",
    "requests.help",
    "charset_normalizer.cli",
    "podman.domain.ipam",
    "yaml.cyaml",
)
# Packages never walked: stdlib parts that only tests, GUIs or builds use.
NEVER = {
    "test",
    "tkinter",
    "idlelib",
    "ensurepip",
    "lib2to3",
    "turtledemo",
    "distutils",
    "pydoc_data",
    "unittest",
    "venv",
    "__phello__",
}
# Always needed by the interpreter itself, and the codecs a console, JSON or HTTP may ask for
# (not all of ``encodings``: the CJK codecs alone are 1 MB).
ALWAYS = (
    "site",
    "_sitebuiltins",
    "runpy",
    "encodings",
    "encodings.aliases",
    "encodings.ascii",
    "encodings.idna",
    "encodings.latin_1",
    "encodings.punycode",
    "encodings.raw_unicode_escape",
    "encodings.unicode_escape",
    "encodings.utf_8",
    "encodings.utf_8_sig",
    "encodings.utf_16",
    "encodings.utf_32",
    "encodings.cp437",
)
# Files of dependencies that Iguana never loads: PyYAML's optional C parser (2.7 MB).
SKIP_FILES = ("_yaml.cpython-",)
# Packages of which a dependency needs any one (requests: a character-set detector). Only one
# is carried: the first found on a --path, else the first found at all; the others are kept
# from importing, so a package the interpreter's own dist-packages happen to hold (Debian's
# chardet beside a venv's charset_normalizer) is not carried as well.
ALTERNATIVES = (("charset_normalizer", "chardet"),)
# What a dependency package carries besides its modules: data files (certifi's CA bundle,
# Iguana's data/), not the modules nothing imported.
CODE_SUFFIXES = (".py", ".pyc", ".pyi", ".so")


def skipped(name: str) -> bool:
    """Whether a module is kept out of the initrd on purpose."""
    if name.endswith(".__main__"):
        return True  # importing it would run a program
    return name.split(".", 1)[0] in NEVER or name.startswith(SKIP_PREFIXES)


def import_quietly(name: str) -> None:
    """Import one module; an optional module that cannot import is simply not carried."""
    if skipped(name):
        return
    try:
        importlib.import_module(name)
    except Exception as error:  # optional submodules fail in many ways
        print(f"python-closure: not carrying {name}: {error}", file=sys.stderr)


def walk(package: str) -> None:
    """Import a package and every submodule below it."""
    import_quietly(package)
    module = sys.modules.get(package)
    if module is None or not hasattr(module, "__path__"):
        return
    for info in pkgutil.walk_packages(module.__path__, package + ".", onerror=lambda _name: None):
        import_quietly(info.name)


def choose_alternatives(extra: list[Path]) -> None:
    """Keep all but one package of each ALTERNATIVES group from importing (see there)."""
    for group in ALTERNATIVES:
        found: dict[str, Path] = {}
        for name in group:
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.origin:
                found[name] = Path(spec.origin).resolve()
        on_path = [name for name in found if any(found[name].is_relative_to(e) for e in extra)]
        chosen = (on_path or list(found) or [None])[0]
        for name in group:
            if name != chosen:
                sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError


def package_files(top: Path, modules: set[Path]) -> list[Path]:
    """The files of third-party package ``top`` to carry: the modules that were imported
    (``modules``) and every file that is not code."""
    if top.is_file():
        return [top]
    return [
        path
        for path in sorted(top.rglob("*"))
        if path.is_file()
        and not {"__pycache__", "tests"} & set(path.parts)
        and not path.name.startswith(SKIP_FILES)
        and (
            path.resolve() in modules
            or not path.name.endswith(CODE_SUFFIXES)
            # never imported here (it would run the program): what `python3 -m iguana_fsm` runs
            or (top.name == ROOT_PACKAGE and path.name == "__main__.py")
        )
    ]


def dist_packages() -> Path:
    """Where this interpreter's own distribution keeps packages (Debian: dist-packages)."""
    import site  # imported here: under -S it only defines functions

    candidates = [Path(entry) for entry in site.getsitepackages()]
    for entry in candidates:
        if not entry.is_relative_to("/usr/local"):
            return entry
    return candidates[0]


def main() -> int:
    """Print SOURCE<TAB>DESTINATION for every file the initrd needs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", action="append", default=[], help="where Iguana and its deps are")
    args = parser.parse_args()
    # The longest path first, so a venv inside the source tree maps by its own directory.
    extra = sorted((Path(entry).resolve() for entry in args.path), key=lambda p: -len(p.parts))
    sys.path[:0] = [str(entry) for entry in extra]

    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    dynload = Path(sysconfig.get_paths()["platstdlib"]).resolve() / "lib-dynload"
    site_dir = dist_packages()
    # -S left the interpreter's own packages off sys.path: after the given paths, so that a
    # packaged Iguana (its private directory as --path) finds the distribution's libraries.
    sys.path.append(str(site_dir))
    choose_alternatives(extra)

    def third_party(name: str) -> bool:
        origin = getattr(sys.modules.get(name), "__file__", None) or ""
        path = Path(origin).resolve()
        return bool(origin) and not (path.is_relative_to(stdlib) or path.is_relative_to(dynload))

    for name in ALWAYS:
        import_quietly(name)
    walk(ROOT_PACKAGE)
    if f"{ROOT_PACKAGE}.cli" not in sys.modules:
        print(
            f"python-closure: cannot import {ROOT_PACKAGE}.cli with {sys.executable} "
            f"(--path {' '.join(args.path) or 'not given'}): install Iguana or name its directory",
            file=sys.stderr,
        )
        return 1
    # Each dependency's submodules are imported too: their imports of other modules count.
    for top in sorted({name.split(".", 1)[0] for name in sys.modules if third_party(name)}):
        walk(top)
    # Then every stdlib package in use is walked until nothing new appears: a package's
    # submodules are often imported lazily, inside functions.
    walked: set[str] = set()
    while True:
        tops = {name.split(".", 1)[0] for name in sys.modules if not third_party(name)}
        tops -= walked | NEVER | {"__main__", "__mp_main__", "encodings"}
        if not tops:
            break
        for top in sorted(tops):
            walked.add(top)
            walk(top)

    files: dict[Path, Path] = {}
    # every module imported, the skipped ones too when something imported them for real
    imported = {
        Path(origin).resolve()
        for name, module in list(sys.modules.items())
        if module is not None and (origin := getattr(module, "__file__", None))
    }
    for name, module in sorted(sys.modules.items(), key=lambda item: item[0]):
        if module is None or skipped(name) or name in ("__main__", "__mp_main__"):
            continue
        origin = getattr(module, "__file__", None)
        if not origin:
            continue
        source = Path(origin).resolve()
        if source.is_relative_to(stdlib) or source.is_relative_to(dynload):
            files[source] = source
            continue
        for entry in (*extra, site_dir):
            if source.is_relative_to(entry):
                top = entry / source.relative_to(entry).parts[0]
                for path in package_files(top, imported):
                    files[path] = site_dir / path.relative_to(entry)
                break
        else:
            print(
                f"python-closure: {name} comes from {source}, outside the known paths",
                file=sys.stderr,
            )
            return 1
    for source, destination in sorted(files.items()):
        print(f"{source}\t{destination}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
