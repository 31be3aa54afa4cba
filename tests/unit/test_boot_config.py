"""``--workflow`` is set on the parsed configuration, never appended to the command line's text:
words after ``--`` belong to init, and a quote in a path must not make other options (the
kernel's own splitting rules, lib/cmdline.c, as cmdline.py follows them)."""

from __future__ import annotations

from pathlib import Path

from iguana_fsm.bootstart import Options, boot_config
from iguana_fsm.paths import Paths
from iguana_fsm.workflow.model import DEFAULT_TIMEOUT_MINUTES
from tests.unit.boot_harness import Boot
from tests.unit.test_runner import TWO_JOBS


def options(tmp_path: Path, cmdline: str, workflow: str | None) -> Options:
    """Options of a sandbox boot with ``cmdline`` and ``--workflow``."""
    return Options(paths=Paths.for_sandbox(tmp_path), cmdline=cmdline, workflow=workflow)


class TestWorkflowOption:
    def test_survives_a_command_line_with_init_arguments(self, tmp_path: Path) -> None:
        """A ``--`` in the command line (what follows is init's) does not hide ``--workflow``."""
        text = "quiet rd.iguana.debug -- single rd.iguana.control_url=/init/own"
        config, kept = boot_config(options(tmp_path, text, "w.yaml"))
        assert config.control_url == str(Path("w.yaml").absolute())
        assert config.debug is True
        assert kept == text, "the command line is kept as it was given"

    def test_a_quote_in_the_path_makes_no_option(self, tmp_path: Path) -> None:
        """A path holding ``"`` and option-like words is the source, whole, and no option."""
        path = '/srv/a" rd.iguana.debug=1 rd.iguana.insecure=1 "b.yaml'
        config, _ = boot_config(options(tmp_path, "", path))
        assert config.control_url == path
        assert config.debug is False and config.insecure is False and config.unknown == ()

    def test_wins_over_the_command_line_and_keeps_a_url(self, tmp_path: Path) -> None:
        """``--workflow`` replaces rd.iguana.control_url; a URL is kept as given."""
        text = "rd.iguana.control_url=https://a.example/w.yaml"
        config, _ = boot_config(options(tmp_path, text, "https://b.example/w.yaml"))
        assert config.control_url == "https://b.example/w.yaml"
        config, _ = boot_config(options(tmp_path, text, None))
        assert config.control_url == "https://a.example/w.yaml"

    def test_resume_reads_the_same_source(self, tmp_path: Path) -> None:
        """A boot run with ``--workflow`` and a ``--`` in its command line fails, and its
        resume fetches the same workflow file (kept root-only beside the command line)."""
        boot = Boot(tmp_path, TWO_JOBS, cmdline="quiet -- single")
        boot.engine.exit_codes["registry.example/install:1"] = 3
        assert boot.run() == 6
        kept = boot.paths.run / "workflow"
        assert kept.read_text() == str(boot.workflow_file)
        assert kept.stat().st_mode & 0o777 == 0o600
        assert boot.record().workflow_source == str(boot.workflow_file)
        boot.engine.exit_codes.clear()
        assert boot.resume() == 0
        assert boot.record().workflow_source == str(boot.workflow_file)


class TestDefaultJobTimeout:
    def test_a_job_without_timeout_minutes_gets_the_default(self, tmp_path: Path) -> None:
        """Every job reaches the engine with a deadline: its own timeout-minutes in seconds,
        else DEFAULT_TIMEOUT_MINUTES; a job stopped at the default says so."""
        workflow = (
            "jobs:\n"
            "  quick:\n    timeout-minutes: 2.5\n    container: {image: registry.example/q:1}\n"
            "  slow:\n    container: {image: registry.example/s:1}\n"
        )
        boot = Boot(tmp_path, workflow)
        boot.engine.timeouts.add("registry.example/s:1")
        assert boot.run() == 6
        assert boot.engine.job_timeouts == {
            "registry.example/q:1": 150.0,
            "registry.example/s:1": DEFAULT_TIMEOUT_MINUTES * 60,
        }
        reason = boot.record().jobs["slow"].reason
        assert reason == "ran longer than timeout-minutes: 360 (the default)"
