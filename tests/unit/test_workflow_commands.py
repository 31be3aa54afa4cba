"""``iguana validate`` / ``iguana schema`` as the CLI calls them, and the explained plan."""

from __future__ import annotations

import functools
import io
import json
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.workflow.commands import cmd_validate
from iguana_fsm.workflow.explain import explain
from iguana_fsm.workflow.source import MAX_BYTES
from iguana_fsm.workflow.validator import load_workflow
from tests.unit.test_workflow_parse import REFERENCE_FILES


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Nothing: the test's output stays clean."""


BROKEN = """\
jobs:
  partition:
    need: install
    container:
      image: registry.example.com/Tools/parted
  install:
    container:
      volumes: [data]
"""

PLAN = """\
name: demo
description: shows the plan
env:
  LOG_LEVEL: debug
  TOKEN: s3cret
public-env: [LOG_LEVEL, DISK]
jobs:
  report:
    needs: [install]
    if: always()
    container:
      image: registry.example.com/tools/report:1
  install:
    continue-on-error: true
    timeout-minutes: 30
    env:
      DISK: /dev/vda
    container:
      image: registry.example.com/tools/install:2
      env:
        PASSWORD: hunter2
      volumes: [scratch:/scratch, /srv/images:/images:ro]
    services:
      web:
        image: docker.io/library/nginx:1.25
"""


def run(files: list[str], fmt: str = "text", explain_plan: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = cmd_validate(files, fmt, explain_plan, out)
    return code, out.getvalue()


@pytest.fixture
def broken(tmp_path: Path) -> str:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    return str(path)


class TestValidate:
    """cmd_validate: problems one per line or as JSON, exit 0 or 2."""

    def test_valid_files_exit_zero_silently(self) -> None:
        """Valid files print nothing and return 0."""
        assert run([str(path) for path in REFERENCE_FILES]) == (0, "")

    def test_broken_file_lists_every_problem(self, broken: str) -> None:
        """Each problem is one FILE:LINE:COL: key.path: message line; the exit code is 2."""
        code, output = run([broken])
        assert code == 2
        assert output.splitlines() == [
            f"{broken}:3:5: jobs.partition.need: unknown key; did you mean 'needs'?",
            f"{broken}:5:14: jobs.partition.container.image: invalid image reference "
            "'registry.example.com/Tools/parted': repository path must be lowercase, not 'Tools'",
            f"{broken}:7:5: jobs.install.container.image: required key is missing",
            f"{broken}:8:17: jobs.install.container.volumes[0]: invalid volume 'data': "
            "target 'data' must be an absolute path",
        ]

    def test_missing_file_is_a_problem_line(self, tmp_path: Path) -> None:
        """A file that does not exist is reported like any problem, without a traceback."""
        missing = tmp_path / "nope.yaml"
        code, output = run([str(missing), str(REFERENCE_FILES[0])])
        assert code == 2
        assert output == f"{missing}: no such file\n"

    def test_directory_is_a_problem_line(self, tmp_path: Path) -> None:
        """A directory given as a file is a problem line too."""
        code, output = run([str(tmp_path)])
        assert (code, output) == (2, f"{tmp_path}: is a directory, not a workflow file\n")

    def test_fifo_is_refused_without_blocking(self, tmp_path: Path) -> None:
        """A FIFO with no writer is refused at once (a blocking read would never return)."""
        fifo = tmp_path / "pipe.yaml"
        os.mkfifo(fifo)
        code, output = run([str(fifo)])
        assert (code, output) == (2, f"{fifo}: is a FIFO, not a workflow file\n")

    def test_endless_device_is_refused(self) -> None:
        """/dev/zero (a character device that never ends) is refused before any byte is read."""
        code, output = run(["/dev/zero"])
        assert (code, output) == (2, "/dev/zero: is a character device, not a workflow file\n")

    def test_file_over_the_boot_limit_is_refused(self, tmp_path: Path) -> None:
        """A regular file over 16 MiB is refused as the boot's fetch refuses it, read no further."""
        big = tmp_path / "big.yaml"
        with big.open("wb") as handle:
            handle.truncate(MAX_BYTES + 1)
        code, output = run([str(big)])
        assert (code, output) == (2, f"{big}: larger than {MAX_BYTES} bytes, not a workflow\n")

    def test_file_url_is_read_like_run_reads_it(self, tmp_path: Path) -> None:
        """A file:// URL, which run and verify accept, validates the file it names."""
        workflow = tmp_path / "w.yaml"
        workflow.write_text("jobs:\n  a:\n    container: {image: Alpine}\n")
        code, output = run([workflow.as_uri()])
        assert code == 2 and output.startswith(
            f"{workflow.as_uri()}:3:24: jobs.a.container.image: "
        )

    def test_http_url_is_fetched(self, tmp_path: Path) -> None:
        """An http URL (here a server on 127.0.0.1) is fetched and validated, as run reads it."""
        (tmp_path / "w.yaml").write_text("jobs:\n  a:\n    container: {image: alpine}\n")
        handler = functools.partial(_QuietHandler, directory=str(tmp_path))
        with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                port = server.server_address[1]
                code, output = run([f"http://127.0.0.1:{port}/w.yaml"])
            finally:
                server.shutdown()
        assert (code, output) == (0, "")

    def test_json_format(self, broken: str) -> None:
        """--format json prints a list of objects with file, line, col, key_path, message."""
        code, output = run([broken], fmt="json")
        problems = json.loads(output)
        assert code == 2 and len(problems) == 4
        assert problems[0] == {
            "file": broken,
            "line": 3,
            "col": 5,
            "key_path": "jobs.partition.need",
            "message": "unknown key; did you mean 'needs'?",
        }

    def test_json_format_valid_is_empty_list(self) -> None:
        """--format json on valid files prints an empty list."""
        code, output = run([str(REFERENCE_FILES[0])], fmt="json")
        assert (code, json.loads(output)) == (0, [])

    def test_stdin(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """'-' reads the workflow from standard input and names it <stdin>."""
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"jobs: {}\n")))
        assert run(["-"]) == (2, "<stdin>:1:7: jobs: a workflow needs at least one job\n")

    def test_unknown_format(self) -> None:
        """A format other than text or json is a programming error of the caller."""
        with pytest.raises(ValueError, match="xml"):
            run([], fmt="xml")

    def test_explain_prints_the_plan(self, tmp_path: Path) -> None:
        """--explain prints the plan of each valid file after the problems of the others."""
        good = tmp_path / "good.yaml"
        good.write_text(PLAN)
        code, output = run([str(good)], explain_plan=True)
        assert code == 0
        assert output == explain(load_workflow(PLAN, str(good)), {})


class TestExplain:
    """The resolved plan."""

    def test_plan(self) -> None:
        """Order, needs, condition, images, volumes and redacted merged env are all shown."""
        text = explain(load_workflow(PLAN, "plan.yaml"), {"EXTRA": "x"})
        assert text == (
            "workflow: demo (plan.yaml)\n"
            "description: shows the plan\n"
            "public env: DISK, LOG_LEVEL\n"
            "run order: install, report\n"
            "\n"
            "1. job install (line 13)\n"
            "  needs: -\n"
            "  if: success()\n"
            "  continue-on-error: true\n"
            "  timeout: 30 minutes\n"
            "  service web: docker.io/library/nginx:1.25\n"
            "    env:\n"
            "      DISK=/dev/vda\n"
            "      EXTRA=***\n"
            "      IGUANA=true\n"
            "      LOG_LEVEL=debug\n"
            "      TOKEN=***\n"
            "    volumes: none\n"
            "  container: registry.example.com/tools/install:2\n"
            "    env:\n"
            "      DISK=/dev/vda\n"
            "      EXTRA=***\n"
            "      IGUANA=true\n"
            "      LOG_LEVEL=debug\n"
            "      PASSWORD=***\n"
            "      TOKEN=***\n"
            "    volumes:\n"
            "      scratch:/scratch  (named volume, read-write)\n"
            "      /srv/images:/images  (host path, read-only)\n"
            "\n"
            "2. job report (line 8)\n"
            "  needs: install\n"
            "  if: always()\n"
            "  continue-on-error: false\n"
            "  timeout: 360 minutes (the default)\n"
            "  container: registry.example.com/tools/report:1\n"
            "    env:\n"
            "      EXTRA=***\n"
            "      IGUANA=true\n"
            "      LOG_LEVEL=debug\n"
            "      TOKEN=***\n"
            "    volumes: none\n"
            "\n"
            "images (3):\n"
            "  registry.example.com/tools/report:1\n"
            "  docker.io/library/nginx:1.25\n"
            "  registry.example.com/tools/install:2\n"
        )

    def test_secret_values_never_appear(self) -> None:
        """No value of a non-public variable appears anywhere in the plan."""
        text = explain(load_workflow(PLAN, "plan.yaml"), {"EXTRA": "top-secret"})
        for secret in ("s3cret", "hunter2", "top-secret"):
            assert secret not in text
