"""The verbs a rescue shell uses often load only what they need: ``status``, ``validate`` and
``schema`` run in a fresh interpreter without importing podman-py, requests, the container
engine or the boot itself (issue 17). The modules are read from ``sys.modules`` after the verb
ran in a subprocess: a rule about what is loaded, not a timing."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.boot_harness import Boot

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = ("podman", "requests", "urllib3", "iguana_fsm.engine", "iguana_fsm.session")
"""Modules (and their submodules) no light verb may load: the libraries of the engine and
fetch, Iguana's engine and the session that assembles a boot."""

FORBIDDEN_FOR_STATUS = (
    *FORBIDDEN,
    "iguana_fsm.stages",
    "iguana_fsm.runner",
    "transitions",
    "structlog",
    "yaml",
)
"""``status`` reads a JSON checkpoint and tests a lock: no stage, machine library, logger or
YAML parser."""

HEAVY_FOR_STATUS = ("dataclasses", "inspect", "tempfile")
"""What the record model that ``status`` reads the checkpoint with does without: it is made
without dataclasses (which import inspect, and with it ast, dis and tokenize) and loads without
the writer's tempfile (issue 17)."""

FORBIDDEN_FOR_LOGS = (
    *FORBIDDEN_FOR_STATUS,
    *HEAVY_FOR_STATUS,
    "iguana_fsm.record",
    "iguana_fsm.checkpoint",
    "iguana_fsm.journal",
)
"""``logs`` reads the JSON log alone: not even the record model."""

PROBE = """
import json, sys
from iguana_fsm import cli
code = cli.main(sys.argv[1:])
sys.__stderr__.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
raise SystemExit(code)
"""

GOOD = "jobs:\n  a: {container: {image: registry.example/a:1}}\n"
BAD = "jobs:\n  a: {container: {image: registry.example/a:1}, needs: b}\n"


def loaded(*argv: str) -> set[str]:
    """The modules loaded after ``iguana ARGV`` ran in a new interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    marker = result.stderr.rpartition("\nMODULES ")[2]
    assert marker, result.stderr
    return set(json.loads(marker))


def offenders(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    """The loaded modules that are, or are inside, a forbidden one."""
    return sorted(
        name for name in modules for bad in forbidden if name == bad or name.startswith(bad + ".")
    )


def boot(top: Path, workflow: str) -> Path:
    """A finished (or failed) sandbox boot under ``top``; the sandbox directory."""
    Boot(top, workflow).run()
    return top


def test_the_probe_sees_what_a_boot_loads(tmp_path: Path) -> None:
    """The probe is able to fail: a dry run of ``iguana run`` loads the engine and requests."""
    workflow = tmp_path / "w.yaml"
    workflow.write_text(GOOD, encoding="utf-8")
    modules = loaded("run", "--dry-run", "--workflow", str(workflow), "--sandbox", str(tmp_path))
    found = offenders(modules, FORBIDDEN)
    assert "iguana_fsm.engine.remote" in found and "requests" in found


@pytest.mark.parametrize("workflow", [GOOD, BAD], ids=["finished", "failed"])
@pytest.mark.parametrize(
    "flags", [(), ("--json",), ("--timings",), ("--wait",)], ids=["text", "json", "timings", "wait"]
)
def test_status_loads_no_boot(tmp_path: Path, workflow: str, flags: tuple[str, ...]) -> None:
    """``iguana status`` of a finished or failed boot, with each of its flags, reads the
    checkpoint through the record model and loads no engine, stage, machine, YAML,
    dataclasses or inspect."""
    top = boot(tmp_path, workflow)
    modules = loaded("status", *flags, "--sandbox", str(top))
    assert "iguana_fsm.status" in modules and "iguana_fsm.checkpoint" in modules
    assert offenders(modules, (*FORBIDDEN_FOR_STATUS, *HEAVY_FOR_STATUS)) == []


@pytest.mark.parametrize("workflow", [GOOD, BAD], ids=["valid", "invalid"])
def test_validate_loads_no_engine(tmp_path: Path, workflow: str) -> None:
    """``iguana validate`` of a valid or an invalid file loads no engine, fetcher or session."""
    path = tmp_path / "w.yaml"
    path.write_text(workflow, encoding="utf-8")
    modules = loaded("validate", str(path))
    assert "iguana_fsm.workflow.validator" in modules
    assert offenders(modules, FORBIDDEN) == []


def test_schema_loads_no_engine_and_no_parser() -> None:
    """``iguana schema`` prints the schema without the engine, the fetcher or the YAML parser."""
    modules = loaded("schema")
    assert "iguana_fsm.workflow.schema" in modules
    assert offenders(modules, (*FORBIDDEN, "yaml", "iguana_fsm.workflow.validator")) == []


def test_status_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/bench_status.py boots its sandbox, runs every verb and prints the status ratio,
    in this environment and as the initrd runs Python (``-I -S``)."""
    spec = importlib.util.spec_from_file_location("bench_status", ROOT / "bench/bench_status.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--rounds", "1"]) == 0
    output = capsys.readouterr().out
    assert output.count("iguana status / python -c pass:") == 2
    assert "initrd-like:" in output and " -I -S" in output
    assert "iguana validate" in output and "iguana schema" in output


@pytest.mark.parametrize("flags", [(), ("--json", "--level", "debug")], ids=["text", "json"])
def test_logs_loads_no_boot(tmp_path: Path, flags: tuple[str, ...]) -> None:
    """``iguana logs`` reads the JSON log as a rescue shell wants it: no engine, stage, machine,
    logger or YAML parser."""
    top = boot(tmp_path, BAD)
    modules = loaded("logs", *flags, "--sandbox", str(top))
    assert "iguana_fsm.commands.logs" in modules
    assert offenders(modules, FORBIDDEN_FOR_LOGS) == []


AT_SPAWN = """
import json, os, sys
from pathlib import Path
from iguana_fsm import cli
from iguana_fsm.engine.api import PodmanApiProcess

def spawn(self):
    saved = Path(sys.argv[-1], "iguana", "state").exists()
    sys.__stderr__.write("\\nSPAWN " + json.dumps([saved, sorted(sys.modules)]) + "\\n")
    sys.__stderr__.flush()
    os._exit(0)

PodmanApiProcess.spawn = spawn
cli.main(sys.argv[1:])
"""

BEFORE_SPAWN = (
    *(name for name in FORBIDDEN_FOR_STATUS if name != "iguana_fsm.engine"),
    "iguana_fsm.engine.podman",
    "iguana_fsm.engine.lazy",
    "iguana_fsm.trust.fetcher",
    "iguana_fsm.log",
)
"""What ``iguana run`` must not have loaded when it spawns the podman service: the service
starts while Python imports the rest of the boot (``commands/boot.py``)."""


@pytest.mark.parametrize("verb", ["run", "resume"])
def test_the_service_is_spawned_before_the_heavy_imports(tmp_path: Path, verb: str) -> None:
    """``iguana run`` and ``iguana resume`` spawn the podman service with the first checkpoint
    saved and before loading the session, stages, machine, podman-py, requests, the logger or
    the YAML parser."""
    workflow = tmp_path / "w.yaml"
    workflow.write_text(GOOD, encoding="utf-8")
    top = tmp_path / "box"
    argv = ["run", "--workflow", str(workflow)]
    if verb == "resume":
        # a boot interrupted after its first checkpoint, the way a kill leaves one
        subprocess.run([sys.executable, "-c", AT_SPAWN, *argv, "--sandbox", str(top)], cwd=ROOT)
        argv = ["resume"]
    result = subprocess.run(
        [sys.executable, "-c", AT_SPAWN, *argv, "--batch", "--sandbox", str(top)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    marker = result.stderr.rpartition("\nSPAWN ")[2]
    assert marker, result.stderr
    saved, modules = json.loads(marker)
    assert saved
    assert "iguana_fsm.engine.api" in modules
    assert offenders(set(modules), BEFORE_SPAWN) == []
