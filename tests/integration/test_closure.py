"""The initrd carries what Iguana runs: every module a verb loads, on a real boot against real
podman and a TLS registry (run, a failed job, resume) and in the rescue shell's verbs after it
(status, logs, validate, verify, schema), is among the files dracut/95iguana/python-closure.py
lists for the initrd, or in the binary of the initrd's interpreter. The modules are read from
``sys.modules`` at the end of each verb, not from a list written here (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from iguana_fsm.errors import JobFailed
from tests.integration.test_boot_runs import NEW_ROOT, Sandbox, World, job, world

pytestmark = pytest.mark.integration

__all__ = ["world"]  # the registry and images of test_boot_runs, built for this module

ROOT = Path(__file__).resolve().parents[2]
CLOSURE = ROOT / "dracut" / "95iguana" / "python-closure.py"
INITRD_PYTHON = "/usr/bin/python3"
"""The interpreter the initrd carries by default (module-setup.sh's iguana_python)."""

PROBE = """
import atexit, json, sys
sys.path[:0] = sys.argv.pop(1).split(":")
sys.argv[0] = "iguana"
# what the initrd does without (python-closure.py): a character-set detector for requests,
# PyYAML's libyaml binding (yaml then parses in Python)
for name in ("charset_normalizer", "chardet", "yaml._yaml"):
    sys.modules[name] = None

def dump(out=sys.argv.pop(1)):
    # by each module's own name: requests.packages.urllib3 is urllib3 under a second one
    loaded = {getattr(module, "__name__", name): getattr(module, "__file__", None)
              for name, module in list(sys.modules.items()) if module is not None}
    with open(out, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(loaded) + "\\n")

atexit.register(dump)
from iguana_fsm import cli
raise SystemExit(cli.main(sys.argv[1:]))
"""
"""Runs ``iguana ARGV`` under ``python -I -S`` (no site: a venv's start-up hooks are no verb's
imports) with the directories named first on its path, and appends the modules loaded by its
end, with their files, to the file named second."""


def carried_modules(deps: str | None = None) -> set[str]:
    """The module names of the files the closure lists for the initrd (its destinations), with
    the dependencies taken from ``deps`` (default: this environment's site-packages)."""
    deps = deps or site_packages()
    listed = subprocess.run(
        [INITRD_PYTHON, "-I", "-S", str(CLOSURE), "--path", str(ROOT), "--path", deps],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = set()
    for line in listed.splitlines():
        destination = Path(line.split("\t")[1])
        for top in ("dist-packages", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
            if top in destination.parts:
                relative = destination.parts[destination.parts.index(top) + 1 :]
                if relative[0] == "lib-dynload":
                    relative = relative[1:]
                names.add(module_name(relative))
                break
    return names


def module_name(relative: tuple[str, ...]) -> str:
    """``('email', 'parser.py')`` is email.parser, a package's ``__init__.py`` the package,
    an extension's file its name before the ABI tag."""
    *packages, filename = relative
    stem = filename.split(".", 1)[0]
    return ".".join(packages if stem == "__init__" else [*packages, stem])


def site_packages() -> str:
    """This environment's site-packages: where build-initrd.sh takes the dependencies from."""
    return sysconfig.get_paths()["purelib"]


def in_binary(names: set[str]) -> set[str]:
    """Those of ``names`` that the initrd's interpreter has in its binary: frozen, or built in
    (Debian builds _bisect, _json... in; another build may have them as extension files)."""
    check = (
        "import _imp, json, sys; print(json.dumps([n for n in json.load(sys.stdin) "
        "if _imp.is_frozen(n) or n in sys.builtin_module_names]))"
    )
    found = subprocess.run(
        [INITRD_PYTHON, "-I", "-S", "-c", check],
        input=json.dumps(sorted(names)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(found))


def probe(loaded: Path) -> list[str]:
    """The command that runs ``iguana`` through PROBE, recording into ``loaded``."""
    return [sys.executable, "-I", "-S", "-c", PROBE, f"{ROOT}:{site_packages()}", str(loaded)]


class ProbedSandbox(Sandbox):
    """A sandbox whose ``iguana`` runs record the modules they loaded in ``self.loaded``."""

    def __init__(self, top: Path, world: World) -> None:
        super().__init__(top, world)
        self.loaded = top.parent / f"{top.name}-modules.jsonl"

    def command(self, verb: str, *args: str) -> list[str]:
        """``iguana VERB --sandbox TOP ARGS`` through the probe."""
        return [*probe(self.loaded), verb, "--sandbox", str(self.top), *args]

    def verb(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """``iguana ARGV`` (no --sandbox added) through the probe."""
        return subprocess.run(
            [*probe(self.loaded), *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def modules(self) -> dict[str, str | None]:
        """Every module any run loaded, with its file (None for a built-in one)."""
        found: dict[str, str | None] = {}
        for line in self.loaded.read_text(encoding="utf-8").splitlines():
            found.update(json.loads(line))
        return found


@pytest.fixture(scope="module")
def probed(world: World) -> Iterator[ProbedSandbox]:
    """A boot whose second job fails, resumed once fixed, then every rescue-shell verb."""
    box = ProbedSandbox(Path(tempfile.mkdtemp(prefix="igc-", dir="/tmp")), world)
    try:
        box.write_workflow(
            {
                "first": job(world.job_image, "echo first"),
                "second": job(world.job_image, "[ -e /iguana/fixed ] || exit 3\n" + NEW_ROOT),
            }
        )
        failed = box.run()
        assert failed.returncode == JobFailed.exit_code, failed.stderr[-3000:]
        (box.paths.iguana / "fixed").touch()
        resumed = subprocess.run(
            box.command("resume", "--batch"), capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        for argv in (("status",), ("status", "--json"), ("status", "--timings"), ("logs",)):
            assert subprocess.run(box.command(*argv), capture_output=True).returncode == 0
        logs = box.command("logs", "--json", "--level", "debug")
        assert subprocess.run(logs, capture_output=True).returncode == 0
        workflow = str(box.workflow)
        assert box.verb("validate", workflow).returncode == 0
        assert box.verb("schema").returncode == 0
        verified = box.verb("verify", "--sandbox", str(box.top), "--no-registry", workflow)
        assert verified.returncode == 0, verified.stderr
        dry = box.verb("run", "--dry-run", "--sandbox", str(box.top), "--workflow", workflow)
        assert dry.returncode == 0, dry.stderr
        yield box
    finally:
        box.close()
        box.loaded.unlink(missing_ok=True)


def test_every_module_a_verb_loads_is_carried(probed: ProbedSandbox) -> None:
    """No module that run, resume, status, logs, validate, verify or schema loaded from a file
    is missing from the closure the initrd is built from (or in its interpreter's binary)."""
    loaded = {name: file for name, file in probed.modules().items() if file}
    carried = carried_modules()
    missing = set(loaded) - carried
    missing -= in_binary(missing)
    assert sorted(missing) == []
    # the probe saw the boot: the engine, the fetcher's libraries and podman-py were loaded
    assert {"iguana_fsm.engine.podman", "requests", "podman", "yaml"} <= set(loaded)


LEFT_OUT = (
    "multiprocessing",
    "email.mime.text",
    "html.parser",
    "logging.handlers",
    "pydoc",
    "charset_normalizer",
    "typing_extensions",
    "transitions.extensions.nesting",
)
"""What the closure carried before it followed imports instead of whole packages: submodules
of packages in use that nothing loads, and packages a dependency imports only elsewhere."""


def test_the_closure_leaves_out_what_no_verb_loads(probed: ProbedSandbox) -> None:
    """Modules that no verb loaded (neither submodules of a package in use, nor a character-set
    detector) are not in the closure."""
    loaded = {name for name, file in probed.modules().items() if file}
    assert set(LEFT_OUT) & loaded == set()
    assert set(LEFT_OUT) & carried_modules() == set()


DEBIAN_DEPS = "/usr/lib/python3/dist-packages"
"""Where Debian's packages put the dependencies (python3-requests, python3-yaml...): what the
Debian package's initrd carries, with other versions than a virtualenv's."""

DATA_FILES = """
import json, sys
sys.path[:0] = sys.argv[1:]
from iguana_fsm.engine.api import packaged_containers_conf
from iguana_fsm.workflow.schema import shipped_schema
packaged_containers_conf(); shipped_schema()
# by each module's own name, those with a file (typing.io is a name typing registers itself)
print(json.dumps(sorted({module.__name__ for module in list(sys.modules.values())
                         if getattr(module, "__file__", None)})))
"""


def test_reading_iguanas_data_files_loads_only_what_is_carried() -> None:
    """Iguana's data files (the engine's containers.conf, the shipped schema) are read through
    importlib.resources, whose reader the frozen import machinery imports lazily on first use
    (importlib.readers): with Debian's packaged dependencies, which import none of it themselves,
    every module that loads is still carried (a package-built initrd crashed in locate without)."""
    loaded = set(
        json.loads(
            subprocess.run(
                [INITRD_PYTHON, "-I", "-S", "-c", DATA_FILES, str(ROOT), DEBIAN_DEPS],
                capture_output=True, text=True, check=True,
            ).stdout
        )
    )  # fmt: skip
    carried = carried_modules(DEBIAN_DEPS)
    missing = loaded - carried - in_binary(loaded) - {"__main__"}
    assert "importlib.readers" in loaded
    assert not missing, sorted(missing)
