"""The kernel command line: splitting and unquoting as the kernel does, and rd.iguana.* options."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from iguana_fsm.cmdline import (
    OPTIONS,
    BootConfig,
    parse_cmdline,
    read_cmdline,
    redact_cmdline,
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
        """A distribution's command line without rd.iguana.* gives the defaults (its ``quiet``
        only quiets the console)."""
        assert parse_cmdline(DEBIAN) == BootConfig(quiet=True)

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


class TestKernelRule:
    """lib/cmdline.c's next_arg and kernel/params.c's parse_args, byte for byte."""

    @pytest.mark.parametrize("space", [b" ", b"\t", b"\n", b"\v", b"\f", b"\r", b"\xa0"])
    def test_kernel_isspace_bytes_separate(self, space: bytes) -> None:
        """The seven bytes the kernel's ctype table marks as space each end a word."""
        assert split_words(b"a" + space + b"b") == ["a", "b"]

    @pytest.mark.parametrize(
        "char", ["\x1c", "\x1f", "\x85", "\u2028", "\u2029", "\u3000", "\u1680", "\x00"]
    )
    def test_other_characters_are_part_of_the_word(self, char: str) -> None:
        """Unicode spaces and the C0 separators are not kernel white space: no new option."""
        line = f"rd.iguana.report=/r{char}rd.iguana.debug"
        config = parse_cmdline(line)
        assert config.debug is False
        assert config.report == f"/r{char}rd.iguana.debug"

    def test_nbsp_byte_inside_utf8_splits_as_the_kernel_does(self) -> None:
        """0xa0 inside a UTF-8 character (à is c3 a0) splits the word, as in the kernel."""
        words = split_words("rd.iguana.report=/dà rd.iguana.debug")
        assert words == ["rd.iguana.report=/d\ufffd", "rd.iguana.debug"]

    def test_quoted_double_dash_ends_the_options(self) -> None:
        """A word that is -- once its quotes are removed ("--") ends the kernel's parameters."""
        assert parse_cmdline('quiet "--" rd.iguana.debug').debug is False
        assert parse_cmdline('quiet "--"x rd.iguana.debug').debug is True
        assert parse_cmdline("quiet --=x rd.iguana.debug").debug is True

    def test_double_dash_is_kept_in_the_words(self) -> None:
        """The words (and the redacted line a checkpoint keeps) still hold the --, so a resumed
        boot reads the same options."""
        assert split_words('a "--" b') == ["a", '"--"', "b"]
        line = "rd.iguana.env=A=s -- rd.iguana.debug"
        assert redact_cmdline(line) == "rd.iguana.env=A=*** -- rd.iguana.debug"
        assert parse_cmdline(redact_cmdline(line)).debug is False

    def test_value_quote_and_word_quote(self) -> None:
        """Quotes opening the word or the value, and a closing last quote, are removed."""
        assert parse_cmdline('rd.iguana.report="/a b"').report == "/a b"
        assert parse_cmdline('"rd.iguana.report=/a b"').report == "/a b"
        assert parse_cmdline('rd.iguana.report=/a" "b').report == '/a" "b'
        assert parse_cmdline('rd.iguana.report="/a').report == "/a"
        with pytest.raises(UsageError, match="needs a value"):
            parse_cmdline('rd.iguana.report="')

    def test_equals_at_the_start_is_not_the_separator(self) -> None:
        """An = as the first byte does not split the word; the next = does (next_arg)."""
        from iguana_fsm.cmdline import kernel_params

        (param,) = kernel_params("=a=b")
        assert (param.key, param.value) == (b"=a", b"b")

    def test_invalid_utf8_words_do_not_hide_options(self) -> None:
        """A word that is not UTF-8 is decoded with U+FFFD; the words around it still count."""
        config = parse_cmdline(b"x=\xff\xfe rd.iguana.debug")
        assert config.debug is True


class TestDracutSources:
    """The files dracut's getcmdline reads, in its order, so the last occurrence still wins."""

    def test_conf_files_then_etc_cmdline_then_proc(self, tmp_path: Path) -> None:
        """/etc/cmdline.d/*.conf (sorted), /etc/cmdline and /proc/cmdline are read in that order."""
        etc = tmp_path / "etc"
        (etc / "cmdline.d").mkdir(parents=True)
        (etc / "cmdline.d" / "20-b.conf").write_text("rd.iguana.report=/b\nrd.iguana.debug\n")
        (etc / "cmdline.d" / "10-a.conf").write_text("rd.iguana.report=/a -- rd.iguana.ca=/c\n")
        (etc / "cmdline.d" / "30-c.txt").write_text("rd.iguana.fallback\n")
        (etc / "cmdline").write_text('rd.iguana.images="LABEL=x y"\n')
        proc = tmp_path / "cmdline"
        proc.write_text("quiet rd.iguana.report=/proc -- rd.iguana.insecure\n")
        config = read_cmdline(proc, etc)
        assert config.report == "/proc"  # the kernel's command line wins
        assert config.debug and config.ca == "/c"  # a -- in a file means nothing
        assert config.images == "LABEL=x y"
        assert not config.fallback and not config.insecure

    def test_without_etc_only_the_kernel_line(self, tmp_path: Path) -> None:
        """Outside the initrd (no etc given) only the command line file is read."""
        proc = tmp_path / "cmdline"
        proc.write_text("rd.iguana.debug\n")
        assert read_cmdline(proc).debug is True

    @pytest.mark.parametrize(
        ("value", "dracut_true", "iguana"),
        [
            ("1", True, True),
            ("0", False, False),
            ("no", False, False),
            ("off", False, False),
            ("false", True, False),
            ("FALSE", True, False),
            ("yes", True, True),
        ],
    )
    def test_flags_against_getargbool(
        self, tmp_path: Path, value: str, dracut_true: bool, iguana: bool
    ) -> None:
        """dracut's getargbool (this machine's dracut-lib.sh) and Iguana agree but for 'false',
        which dracut reads as true and Iguana as false (the documented difference)."""
        lib = Path("/usr/lib/dracut/modules.d/99base/dracut-lib.sh")
        assert lib.exists(), "dracut-core is installed by make deps"
        # dracut's own getargbool, taken from its library, over a getarg that finds the value
        text = lib.read_text()
        start = text.index("getargbool() {")
        function = text[start : text.index("\n}\n", start) + 3]
        script = (
            f"getarg() {{ printf '%s' '{value}'; }}\n{function}"
            "if getargbool 0 rd.iguana.debug; then echo true; else echo false; fi"
        )
        result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
        assert result.stdout.strip() == ("true" if dracut_true else "false"), result.stderr
        assert parse_cmdline(f"rd.iguana.debug={value}").debug is iguana
