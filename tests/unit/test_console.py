"""The console for people (iguana_fsm/console.py): short lines, modes, progress, the banner."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from iguana_fsm.cmdline import parse_cmdline
from iguana_fsm.console import WIDTH, ConsoleView, Mode, banner_lines, fit, short_image, size
from iguana_fsm.log import make_logger
from iguana_fsm.session import console_mode
from tests.unit.boot_harness import Boot

TWO_JOBS = """\
jobs:
  first:
    container: {image: registry.example/tools:1}
  second:
    needs: first
    container: {image: registry.example/installer:2}
"""

FAILING = """\
jobs:
  first:
    container: {image: registry.example/tools:1}
  broken:
    container: {image: registry.example/broken:1}
  notes:
    if: failure()
    container: {image: registry.example/tools:1}
"""


class Clock:
    """A hand-moved clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TerminalIO(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def failing_boot(tmp_path: Path, cmdline: str = "", lines: int = 30) -> tuple[int, str, Boot]:
    """A boot whose second job prints ``lines`` lines and exits 3; its exit code and console."""
    boot = Boot(tmp_path, FAILING, cmdline)
    boot.engine.exit_codes["registry.example/broken:1"] = 3
    boot.engine.outputs["registry.example/broken:1"] = [
        f"partitioning step {n} of a long and wordy installer log line, " * 2 for n in range(lines)
    ]
    code = boot.run()
    return code, boot.console.getvalue(), boot


class TestLines:
    """Each shown line is short."""

    def test_fit_cuts_at_the_width_and_drops_control_characters(self) -> None:
        """A long line is cut to 80 columns with ``...``; escapes become blanks."""
        assert fit("x" * 200) == "x" * 77 + "..."
        assert fit("a\x1b[2Jb\rc") == "a [2Jb c"

    def test_short_image_names(self) -> None:
        """Registry and digest go, the tag stays."""
        assert short_image("reg.example:5000/a/b/tools:1") == "tools:1"
        assert short_image("reg.example:5000/tools@sha256:" + "0" * 64) == "tools"

    def test_sizes(self) -> None:
        """Bytes read as a person reads them."""
        assert size(512) == "512 B" and size(3_200_000) == "3.2 MB"


class TestModes:
    """quiet, normal and debug, from the kernel command line."""

    def test_mode_from_the_command_line(self) -> None:
        """``rd.iguana.debug`` and ``rd.debug`` win over ``quiet``; dracut's ``rd.debug=0`` is
        off, as its getargbool reads it."""
        assert console_mode(parse_cmdline("ro quiet")) is Mode.QUIET
        assert console_mode(parse_cmdline("quiet rd.debug")) is Mode.DEBUG
        assert console_mode(parse_cmdline("quiet rd.iguana.debug=1")) is Mode.DEBUG
        assert console_mode(parse_cmdline("rd.debug=0")) is Mode.NORMAL
        assert console_mode(parse_cmdline("")) is Mode.NORMAL

    def test_normal_boot_is_one_line_a_step(self, tmp_path: Path) -> None:
        """A two-job boot shows a line per step, none wider than 80 columns, and the log keeps
        every field the console leaves out."""
        boot = Boot(tmp_path, TWO_JOBS)
        assert boot.run() == 0
        lines = boot.console.getvalue().splitlines()
        assert all(len(line) <= WIDTH for line in lines), lines
        assert any("job 1/2 first: tools started" in line for line in lines), lines
        assert any("job 2/2 second succeeded in" in line for line in lines), lines
        assert len(lines) <= 12, lines
        events = [json.loads(line) for line in boot.paths.log.read_text().splitlines()]
        started = [e for e in events if e["event"] == "job.started"]
        assert started[0]["n"] == 1 and started[0]["of"] == 2 and "env" in started[0]
        assert any(e["event"] == "checkpoint.saved" for e in events)

    def test_quiet_boot_shows_nothing_when_all_goes_well(self, tmp_path: Path) -> None:
        """With ``quiet`` a boot without problems or progress prints no line at all."""
        boot = Boot(tmp_path, TWO_JOBS, "quiet")
        assert boot.run() == 0
        assert boot.console.getvalue() == ""

    def test_debug_shows_every_event(self, tmp_path: Path) -> None:
        """``rd.debug`` shows the events the default console leaves out, with their fields."""
        boot = Boot(tmp_path, TWO_JOBS, "rd.debug")
        assert boot.run() == 0
        console = boot.console.getvalue()
        assert "checkpoint.saved" in console and "state.entered" in console

    def test_warnings_show_in_every_mode(self) -> None:
        """A warning is shown in quiet mode too, wrapped, never wider than the console."""
        out = io.StringIO()
        log = make_logger(None, out, Mode.QUIET)
        log.warning("job.cleanup_failed", job="x", error="podman said " + "no " * 60)
        lines = out.getvalue().splitlines()
        assert lines and lines[0].startswith("iguana") and "warning: job.cleanup_failed" in lines[0]
        assert 1 < len(lines) <= 4 and all(len(line) <= WIDTH for line in lines)


class TestBanner:
    """The failure banner: once, last, within one 80x25 screen."""

    def test_failed_boot_ends_with_one_banner(self, tmp_path: Path) -> None:
        """A failed job's boot prints the banner once, its reason, job and exit code within the
        last 25 lines, the output tail above the banner, every line at most 80 columns."""
        code, console, boot = failing_boot(tmp_path)
        assert code == 6
        lines = console.splitlines()
        assert console.count("IGUANA BOOT FAILED") == 1
        assert all(len(line) <= WIDTH for line in lines), lines
        last = lines[-25:]
        assert any(
            line.startswith("reason:     job broken failed: exited with code 3") for line in last
        )
        assert "job:        broken, exit code 3" in last
        assert any(line.startswith("exit code:  6 (a job failed") for line in last)
        assert "checkpoint:" + str(boot.paths.state) in "".join(last).replace(" ", "")
        top = next(n for n, line in enumerate(lines) if "IGUANA BOOT FAILED" in line)
        assert lines[top - 9] == "last output of job broken:"
        assert lines[top - 1].startswith("  | partitioning step 29 ")

    def test_quiet_failed_boot_is_the_banner_and_the_reboot(self, tmp_path: Path) -> None:
        """With ``quiet`` a failed boot prints only the banner (tail included) and the reboot
        notice: no step lines, no job output."""
        _, console, _ = failing_boot(tmp_path, "quiet")
        lines = console.splitlines()
        assert lines[0] == "last output of job broken:"
        assert [line for line in lines if line.startswith("iguana")] == lines[-1:]
        assert len([line for line in lines if line.startswith("  | ")]) == 8
        assert "rebooting in 30.0 s" in lines[-1]
        assert len(lines) <= 20, lines

    def test_banner_of_many_problems_fits(self) -> None:
        """A workflow with many problems: the count, three of them, and where the rest are."""
        event: dict[str, Any] = {
            "message": "invalid",
            "code": 2,
            "state": "fetch",
            "problems": [f"/w.yaml:{n}:1: jobs.j{n}: unknown key" for n in range(40)],
            "checkpoint": "/iguana/state",
        }
        lines = banner_lines(event)
        assert len(lines) <= 12 and all(len(line) <= WIDTH for line in lines)
        assert "40 problems (`iguana validate` lists them all)" in lines[1]


class TestProgress:
    """Progress lines: in place on a terminal, spaced out otherwise."""

    def event(self, done: int, final: bool = False) -> dict[str, Any]:
        return {
            "event": "pull.progress",
            "level": "info",
            "image": "reg:5000/a/tools:1",
            "done": done,
            "total": 10_000_000,
            "percent": done / 100_000,
            "rate": 1_000_000,
            "eta": (10_000_000 - done) / 1_000_000,
            "final": final,
        }

    def test_terminal_redraws_one_line(self) -> None:
        """On a terminal each update redraws the same line; the next step starts a new one."""
        out = TerminalIO()
        view = ConsoleView(out, Mode.QUIET)
        view.show(self.event(1_000_000))
        view.show(self.event(2_000_000))
        view.write_block(["next"])
        text = out.getvalue()
        assert text.count("\r") == 2 and text.count("\n") == 2 and text.endswith("\nnext\n")
        assert "pull tools:1 2.0/10.0 MB 20% 1.0 MB/s 8.0s left" in text

    @pytest.mark.parametrize(
        "image", ["tools:1", "registry.example:5000/a/" + "long-installer-name" * 4 + ":2026.12"]
    )
    @pytest.mark.parametrize("total", [900, 950_000, 7_300_000_000])
    def test_pull_line_keeps_its_figures_within_the_width(self, image: str, total: int) -> None:
        """A pull line shows done/total, percentage, rate and time left within WIDTH columns
        for any name and size: a long image name is cut, never the figures."""
        event = {**self.event(0), "image": image, "done": total // 3, "total": total}
        event.update(percent=33.3, rate=987_654, eta=3725.0)
        out = io.StringIO()
        ConsoleView(out, Mode.QUIET).show(event)
        (line,) = out.getvalue().splitlines()
        assert len(line) <= WIDTH, line
        assert line.endswith(" 33% 987.7 kB/s 62m05s left"), line
        assert f"/{size(total)} " in line

    def test_log_file_console_gets_a_line_every_few_seconds(self) -> None:
        """Not a terminal: at most one line per PROGRESS_EVERY seconds, and the final one."""
        out, clock = io.StringIO(), Clock()
        view = ConsoleView(out, Mode.NORMAL, clock)
        for step in range(10):
            clock.now += 1
            view.show(self.event(step * 1_000_000))
        view.show(self.event(10_000_000, final=True))
        lines = out.getvalue().splitlines()
        assert len(lines) == 3, lines
        assert "pulled tools:1 10.0 MB in" in lines[-1]
