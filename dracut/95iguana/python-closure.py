"""List the Python files the initrd needs: Iguana, its dependencies and the stdlib they import.

Run at initrd build time by module-setup.sh with the interpreter the initrd will carry, as
``python3 -I -S python-closure.py [--path DIR]...``. It carries what runs, not whole packages:
every module of ``iguana_fsm``, what importing them imports, and what an import statement inside
a function of Iguana or of a dependency names (a lazy import: ``requests`` reads ``netrc`` per
request), each imported for real so that its own imports come along, until nothing new appears.
The standard library's own lazy imports are not followed (they lead to pydoc, doctest, pdb...):
the ones a verb does reach are listed in RUNTIME, and tests/integration/test_closure.py fails
when a verb loads a module this does not list. It prints ``SOURCE<TAB>DESTINATION`` for each
file: the stdlib keeps its path, everything found on a ``--path`` directory goes to the
interpreter's dist-packages.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import pkgutil
import subprocess
import sys
import sysconfig
import warnings
from collections.abc import Callable
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
    # what dependencies import only where this interpreter is not (structlog: typing_extensions
    # before Python 3.11; podman-py: tomli or toml without tomllib) or only with what the
    # initrd does not carry (requests: cryptography for urllib3.contrib's pyOpenSSL)
    "typing_extensions",
    "tomli",
    "toml",
    "cryptography",
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
# Modules imported at run time that no import statement of Iguana or a dependency names: by the
# interpreter's C code (time.strptime: _strptime) or by the standard library's own lazy imports
# on a path a verb takes. tests/integration/test_closure.py finds any that is missing.
RUNTIME: tuple[str, ...] = (
    # the reader of importlib.resources.files() for a package on disk (Iguana's data files):
    # imported by the frozen importlib._bootstrap_external on first use
    "importlib.readers",
)
# Files of dependencies that Iguana never loads: PyYAML's optional C parser (2.7 MB).
SKIP_FILES = ("_yaml.cpython-",)
# Packages requests takes a character-set detector from, if one imports. None is carried when
# the requests found imports without one (its newer releases): the detector only guesses the
# encoding of a text answer without a charset (Response.text), which then falls back to UTF-8,
# and iguana.sh silences the warning requests gives. An older requests (Debian 12's 2.28) needs
# one: then the first found on a --path, else the first found at all, is carried alone.
DETECTORS = ("charset_normalizer", "chardet")
# Modules the interpreter has frozen into its own binary (os, codecs, io, site, runpy...) load
# from there, not from their files; only os.py stays, the landmark by which the interpreter
# finds its standard library.
LANDMARK = "os"
DETECTOR_WARNING = "Unable to find acceptable character detection"
"""The start of requests' warning without a detector (iguana.sh silences it with -W too)."""
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


class _Imports(ast.NodeVisitor):
    """The modules the import statements of one module name, wherever they are (a function's
    too), but not those only a type checker reads (``if TYPE_CHECKING:``)."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.names: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        """Skip the body of ``if TYPE_CHECKING:``."""
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
        if name != "TYPE_CHECKING":
            self.visit(node.test)
            for child in node.body:
                self.visit(child)
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        """``import a.b``: a.b."""
        self.names.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        """``from a import b``: a, and a.b where that is a module."""
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")
            parent = ".".join(parts[: len(parts) - node.level + 1])
            base = f"{parent}.{base}" if base else parent
        self.names.add(base)
        self.names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def named_imports(name: str) -> set[str]:
    """The modules that module ``name``'s import statements name (see _Imports)."""
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None) or ""
    if not origin.endswith(".py"):
        return set()
    package = name if hasattr(module, "__path__") else name.rpartition(".")[0]
    visitor = _Imports(package)
    visitor.visit(ast.parse(Path(origin).read_bytes()))
    return visitor.names


def is_module(name: str) -> bool:
    """Whether ``name`` can be imported as a module (``from a import b``: b may be a name)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def import_named(ours: Callable[[str], bool]) -> None:
    """Import what the import statements of every module ``ours`` says yes to name, until no
    new module appears: a lazy import inside a function is carried like any other."""
    scanned: set[str] = set()

    def pending(name: str) -> bool:
        # requests.packages.urllib3 is urllib3 under a second name: scanned as urllib3 only
        module = sys.modules[name]
        return name not in scanned and getattr(module, "__name__", None) == name and ours(name)

    while todo := sorted(name for name in list(sys.modules) if pending(name)):
        for name in todo:
            scanned.add(name)
            for wanted in sorted(named_imports(name)):
                fresh = wanted and wanted not in sys.modules and not skipped(wanted)
                if fresh and is_module(wanted):
                    import_quietly(wanted)


def choose_detector(extra: list[Path]) -> None:
    """Keep requests' character-set detectors from importing, all of them when requests does
    without, else all but one (see DETECTORS)."""
    trial = (
        f"import sys; sys.path[:0] = {[str(entry) for entry in sys.path]!r}; "
        f"sys.modules.update(dict.fromkeys({DETECTORS!r})); import requests"
    )
    tolerated = subprocess.run(
        [sys.executable, "-I", "-S", "-W", "ignore", "-c", trial],
        capture_output=True,
        check=False,
    )
    chosen = None
    if tolerated.returncode != 0:
        found: dict[str, Path] = {}
        for name in DETECTORS:
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.origin:
                found[name] = Path(spec.origin).resolve()
        on_path = [name for name in found if any(found[name].is_relative_to(e) for e in extra)]
        chosen = (on_path or list(found) or [None])[0]
    for name in DETECTORS:
        if name != chosen:
            sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError


def frozen(name: str) -> bool:
    """Whether the interpreter loads module ``name`` from its own binary (see LANDMARK)."""
    import _imp

    return name != LANDMARK and _imp.is_frozen(name)


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
    choose_detector(extra)
    warnings.filterwarnings("ignore", DETECTOR_WARNING)

    def third_party(name: str) -> bool:
        origin = getattr(sys.modules.get(name), "__file__", None) or ""
        path = Path(origin).resolve()
        return bool(origin) and not (path.is_relative_to(stdlib) or path.is_relative_to(dynload))

    for name in (*ALWAYS, *RUNTIME):
        import_quietly(name)
    walk(ROOT_PACKAGE)
    if f"{ROOT_PACKAGE}.cli" not in sys.modules:
        print(
            f"python-closure: cannot import {ROOT_PACKAGE}.cli with {sys.executable} "
            f"(--path {' '.join(args.path) or 'not given'}): install Iguana or name its directory",
            file=sys.stderr,
        )
        return 1
    # Iguana's and its dependencies' lazy imports; not the standard library's (see RUNTIME).
    import_named(third_party)

    files: dict[Path, Path] = {}
    # every module imported, the skipped ones too when something imported them for real
    imported = {
        Path(origin).resolve()
        for name, module in list(sys.modules.items())
        if module is not None and (origin := getattr(module, "__file__", None))
    }
    for name, module in sorted(sys.modules.items(), key=lambda item: item[0]):
        if module is None or skipped(name) or frozen(name) or name in ("__main__", "__mp_main__"):
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
