"""The kernel command line: splitting and unquoting as the kernel does, and rd.iguana.* options."""

from __future__ import annotations

from pathlib import Path

import pytest

from iguana_fsm.cmdline import (
    OPTIONS,
    BootConfig,
    parse_cmdline,
    read_cmdline,
    split_words,
    suggest,
)
from iguana_fsm.errors import UsageError
from iguana_fsm.workflow.containers import workflow_from_containers
from iguana_fsm.workflow.validator import load_workflow

DEBIAN = (
    "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0b6f3c2e-1d2a-4c5b-9e8f-7a6b5c4d3e2f "
    "ro quiet\n"
)
IGUANA = (
    "BOOT_IMAGE=/vmlinuz initrd=/iguana.img console=tty0 console=ttyS0,115200n8 "
    "rd.neednet=1 ip=dhcp rd.iguana.control_url=https://deploy.example.com/control.yaml "
    "rd.iguana.debug rd.iguana.env=LANG=C.UTF-8 rd.iguana.env=SITE=lab "
    'rd.iguana.kexec_cmdline="root=/dev/vda2 console=ttyS0 quiet" '
    "rd.iguana.fetch_timeout=10,120 rd.iguana.reboot_delay=5 -- single\n"
)


class TestSplitWords:
    """Words as the kernel's next_arg sees them, quotes still in place."""

    def test_plain(self) -> None:
        """Runs of any white space separate words; a trailing newline is not a word."""
        assert split_words(" a  b\tc\n") == ["a", "b", "c"]

    def test_quotes_protect_spaces(self) -> None:
        """A double quote anywhere in a word toggles quoting until the next one."""
        assert split_words('a="b c" "d=e f" g=h"i j"k') == ['a="b c"', '"d=e f"', 'g=h"i j"k']

    def test_unterminated_quote_runs_to_the_end(self) -> None:
        """An unterminated quote swallows the rest of the line, as in the kernel."""
        assert split_words('a="b c d') == ['a="b c d']

    def test_empty(self) -> None:
        """An empty or blank command line has no words."""
        assert split_words("") == split_words(" \n ") == []


class TestParse:
    """rd.iguana.* words into a BootConfig."""

    def test_no_iguana_options(self) -> None:
        """A distribution's command line without rd.iguana.* gives the defaults."""
        assert parse_cmdline(DEBIAN) == BootConfig()

    def test_realistic_line(self) -> None:
        """A full Iguana command line sets each option; words after -- belong to init."""
        config = parse_cmdline(IGUANA)
        assert config.control_url == "https://deploy.example.com/control.yaml"
        assert config.debug is True
        assert config.env == {"LANG": "C.UTF-8", "SITE": "lab"}
        assert config.kexec_cmdline == "root=/dev/vda2 console=ttyS0 quiet"
        assert (config.fetch_timeout, config.fetch_deadline) == (10.0, 120.0)
        assert config.reboot_delay == 5.0
        assert config.unknown == ()

    def test_after_double_dash_is_ignored(self) -> None:
        """rd.iguana.* after a lone -- are init's arguments, not Iguana's."""
        assert parse_cmdline("quiet -- rd.iguana.debug").debug is False
        assert parse_cmdline("rd.iguana.debug --").debug is True

    def test_quoted_whole_word(self) -> None:
        """A word quoted as a whole ("key=value with spaces") loses both quotes."""
        config = parse_cmdline('"rd.iguana.kexec_cmdline=root=/dev/sda1 ro"')
        assert config.kexec_cmdline == "root=/dev/sda1 ro"

    def test_quoted_flag(self) -> None:
        """A quoted flag without a value is still that flag."""
        assert parse_cmdline('"rd.iguana.debug"').debug is True

    def test_quotes_inside_a_value_stay(self) -> None:
        """Only quotes around the whole value go; quotes inside it stay, as in the kernel."""
        config = parse_cmdline('rd.iguana.kexec_cmdline=a"b c"d')
        assert config.kexec_cmdline == 'a"b c"d'

    def test_last_scalar_wins(self) -> None:
        """A repeated single-value option takes its last value, like dracut's getarg."""
        config = parse_cmdline("rd.iguana.control_url=http://a rd.iguana.control_url=http://b")
        assert config.control_url == "http://b"

    def test_lists_accumulate(self) -> None:
        """Repeated list options add up, in order, and empty items vanish."""
        config = parse_cmdline("rd.iguana.containers=a,b rd.iguana.containers=c,,d, ")
        assert config.containers == ("a", "b", "c", "d")

    @pytest.mark.parametrize(
        ("word", "value"),
        [
            ("rd.iguana.debug", True),
            ("rd.iguana.debug=1", True),
            ("rd.iguana.debug=yes", True),
            ("rd.iguana.debug=", True),
            ("rd.iguana.debug=0", False),
            ("rd.iguana.debug=off", False),
            ("rd.iguana.debug=1 rd.iguana.debug=0", False),
        ],
    )
    def test_flags(self, word: str, value: bool) -> None:
        """A flag is true without a value, or with 1/yes/true/on; false with 0/no/false/off."""
        assert parse_cmdline(word).debug is value

    @pytest.mark.parametrize(
        ("line", "words"),
        [
            ("rd.iguana.debug=maybe", "rd.iguana.debug=maybe: expected 1 or 0"),
            ("rd.iguana.control_url", "rd.iguana.control_url needs a value"),
            ("rd.iguana.control_url=", "rd.iguana.control_url needs a value"),
            ("rd.iguana.reboot_delay=soon", "rd.iguana.reboot_delay=soon: expected seconds > 0"),
            ("rd.iguana.reboot_delay=-1", "expected seconds > 0"),
            ("rd.iguana.fetch_timeout=nan", "rd.iguana.fetch_timeout=nan: expected seconds > 0"),
            ("rd.iguana.fetch_timeout=inf", "expected seconds > 0"),
            ("rd.iguana.fetch_timeout=1,2,3", "expected ATTEMPT[,TOTAL]"),
            ("rd.iguana.env=NOVALUE", "rd.iguana.env=NOVALUE: expected NAME=VALUE"),
            ("rd.iguana.env=1X=y", "expected NAME=VALUE"),
            ("rd.iguana.env=é=y", "expected NAME=VALUE"),
        ],
    )
    def test_bad_values(self, line: str, words: str) -> None:
        """A bad value is a UsageError naming the option and the value."""
        with pytest.raises(UsageError) as caught:
            parse_cmdline(line)
        assert words in str(caught.value)
        assert str(caught.value).startswith("kernel command line: rd.iguana.")

    def test_env_value_may_hold_equals_and_spaces(self) -> None:
        """Only the first = after the name separates it; a quoted value keeps its spaces."""
        config = parse_cmdline(
            'rd.iguana.env=OPTS="a=b c=d" "rd.iguana.env=B=x y" rd.iguana.env=C='
        )
        assert config.env == {"OPTS": "a=b c=d", "B": "x y", "C": ""}

    def test_unknown_options_are_kept_with_a_suggestion(self) -> None:
        """Unknown rd.iguana.* names are collected, never fatal; suggest finds the near miss."""
        config = parse_cmdline("rd.iguana.contol_url=x rd.iguana.zzz rd.iguanax=1")
        assert config.unknown == ("contol_url", "zzz")
        assert suggest("contol_url") == "control_url"
        assert suggest("zzz") is None

    def test_other_prefixes_ignored(self) -> None:
        """Case matters and look-alike prefixes are not Iguana's."""
        assert parse_cmdline("RD.IGUANA.DEBUG rd.iguana_debug iguana.debug").debug is False

    def test_every_option_has_a_field(self) -> None:
        """Each entry of OPTIONS sets a field of BootConfig (one place to add an option)."""
        fields = set(BootConfig.__dataclass_fields__)
        for name in OPTIONS:
            assert name in fields or name == "fetch_timeout"


class TestContainers:
    """rd.iguana.containers=a,b becomes the workflow a file with jobs a and b gives."""

    def test_same_model_as_a_workflow_file(self) -> None:
        """The command line's containers and a two-job file give equal workflows."""
        config = parse_cmdline(
            "quiet rd.iguana.containers=registry.example.com/tools/partition:1,"
            "registry.example.com/tools/install"
        )
        text = (
            "jobs:\n"
            "  partition:\n    container:\n      image: registry.example.com/tools/partition:1\n"
            "  install:\n    container:\n      image: registry.example.com/tools/install\n"
        )
        assert workflow_from_containers(config.containers) == load_workflow(text, "control.yaml")


class TestRead:
    """Reading /proc/cmdline."""

    def test_reads_a_file(self, tmp_path: Path) -> None:
        """The file's text is parsed, its trailing newline ignored."""
        path = tmp_path / "cmdline"
        path.write_text(IGUANA)
        assert read_cmdline(path) == parse_cmdline(IGUANA)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a one-line UsageError naming it."""
        with pytest.raises(UsageError, match="cannot read the kernel command line"):
            read_cmdline(tmp_path / "nope")

    def test_invalid_utf8_is_replaced(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 do not stop parsing."""
        path = tmp_path / "cmdline"
        path.write_bytes(b"quiet \xff rd.iguana.debug\n")
        assert read_cmdline(path).debug is True
