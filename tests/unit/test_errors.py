"""Exit codes: one enum, and every place that shows or uses a code agrees with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iguana_fsm import errors
from iguana_fsm.cli import build_parser
from iguana_fsm.errors import ExitCode, IguanaError

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "dracut" / "95iguana" / "iguana-lib.sh"
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(.+?)\s*\|\s*$")


def readme_table() -> dict[int, str]:
    """The rows of the README's exit-code table (the table under '### Exit codes')."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows: dict[int, str] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            rows[int(match.group(1))] = match.group(2)
    return rows


def all_error_classes() -> list[type[IguanaError]]:
    found: list[type[IguanaError]] = []
    pending: list[type[IguanaError]] = [IguanaError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


class TestExitCode:
    def test_readme_table_matches_the_enum(self) -> None:
        """The README documents every code with the enum's own meaning, and no other code."""
        assert readme_table() == {code.value: code.meaning for code in ExitCode}

    def test_every_error_class_exits_with_an_enum_member(self) -> None:
        """Each IguanaError subclass names its exit code through ExitCode."""
        for cls in all_error_classes():
            assert isinstance(cls.exit_code, ExitCode), cls

    def test_help_epilog_lists_every_code(self) -> None:
        """`iguana --help` shows each code with its meaning."""
        epilog = build_parser().epilog or ""
        for code in ExitCode:
            assert f"{code.value:>3}  {code.meaning}" in epilog

    def test_shell_block_is_generated_from_the_enum(self) -> None:
        """The initrd scripts' exit-code block is what `make exit-codes` would write."""
        text = LIB.read_text(encoding="utf-8")
        assert errors.with_shell_block(text) == text
        assert "IGUANA_EXIT_ENGINE=5\n" in text

    @pytest.mark.parametrize("script", ["iguana-boot.sh", "iguana-save-report.sh"])
    def test_shell_scripts_use_the_named_codes(self, script: str) -> None:
        """The initrd scripts that exit with Iguana's codes use IGUANA_EXIT_*, never a number."""
        text = (ROOT / "dracut" / "95iguana" / script).read_text(encoding="utf-8")
        assert not re.search(r"\b(exit|return) +[0-9]", text)
        assert not re.search(r"-(eq|ne) +[0-9]", text)

    def test_report_check_uses_the_internal_code(self) -> None:
        """iguana-lib.sh decides who copies the report from the named internal-error code."""
        assert '-eq "$IGUANA_EXIT_INTERNAL"' in LIB.read_text(encoding="utf-8")
