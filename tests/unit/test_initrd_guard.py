"""``iguana run`` and ``iguana resume`` without ``--sandbox`` act on the machine itself, so
they refuse on a system that is not an initrd (no /etc/initrd-release, the convention systemd,
dracut and Ignition's units go by) unless ``--not-in-initrd`` says so."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from iguana_fsm.cli import build_parser
from iguana_fsm.commands.options import INITRD_RELEASE, check_initrd
from iguana_fsm.errors import ExitCode, UsageError


def args(*argv: str) -> argparse.Namespace:
    """The parsed command line ``iguana ARGV``."""
    return build_parser().parse_args(list(argv))


class TestGuard:
    @pytest.mark.parametrize("verb", ["run", "resume"])
    def test_this_host_is_refused_before_anything_is_touched(
        self, verb: str, tmp_path: Path
    ) -> None:
        """On this test host (not an initrd) a real boot exits 2 with one line naming
        /etc/initrd-release, and creates neither /iguana nor a lock."""
        assert not INITRD_RELEASE.exists(), "the tests run on a host, not in an initrd"
        before = Path("/iguana").exists(), Path("/run/iguana/lock").exists()
        result = subprocess.run(
            [sys.executable, "-m", "iguana_fsm", verb, "--batch"],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
            timeout=60,
        )
        assert result.returncode == ExitCode.USAGE
        assert result.stderr.startswith("iguana: not in an initrd (/etc/initrd-release does not")
        assert len(result.stderr.splitlines()) == 1
        assert (Path("/iguana").exists(), Path("/run/iguana/lock").exists()) == before

    def test_an_initrd_the_sandbox_and_the_option_pass(self, tmp_path: Path) -> None:
        """With the release file, with --sandbox, or with --not-in-initrd, the guard is quiet."""
        release = tmp_path / "initrd-release"
        with pytest.raises(UsageError, match="--not-in-initrd"):
            check_initrd(args("run"), release)
        release.write_text("NAME=dracut\n")
        check_initrd(args("run"), release)
        release.unlink()
        check_initrd(args("run", "--sandbox", str(tmp_path)), release)
        check_initrd(args("resume", "--not-in-initrd"), release)

    def test_the_option_is_in_the_help(self) -> None:
        """``iguana run --help`` names the option and the file it overrides."""
        text = subprocess.run(
            [sys.executable, "-m", "iguana_fsm", "run", "--help"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        ).stdout
        assert "--not-in-initrd" in text and "/etc/initrd-release" in text

    def test_a_dry_run_needs_no_initrd(self, tmp_path: Path) -> None:
        """--dry-run touches nothing, so it is not refused."""
        workflow = tmp_path / "w.yaml"
        workflow.write_text("jobs:\n  a:\n    container: {image: registry.example/a:1}\n")
        result = subprocess.run(
            [sys.executable, "-m", "iguana_fsm", "run", "--dry-run", "--workflow", str(workflow)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
