"""The podman module's tmpfs sizes from the kernel command line (rd.iguana.storage_size=,
rd.iguana.tmp_size=), as dracut/94iguana-podman/iguana-podman-setup.sh reads them, and as
Iguana's own parser accepts them (the same rule: what tmpfs(5) takes as size=)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from iguana_fsm.cmdline import parse_cmdline
from iguana_fsm.errors import UsageError

SCRIPT = Path(__file__).resolve().parents[2] / "dracut/94iguana-podman/iguana-podman-setup.sh"


def cmdline_size(tmp_path: Path, cmdline: str, name: str = "storage_size") -> tuple[str, str]:
    """The script's own cmdline_size function run on ``cmdline``: its output and stderr."""
    text = SCRIPT.read_text()
    start = text.index("cmdline_size() {")
    function = text[start : text.index("\n}\n", start) + 3]
    proc = tmp_path / "cmdline"
    proc.write_text(cmdline + "\n")
    result = subprocess.run(
        ["sh", "-c", f'{function}\ncmdline_size "$1"', "sh", name],
        env={"IGUANA_PROC_CMDLINE": str(proc), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout, result.stderr


@pytest.mark.parametrize(
    ("cmdline", "size"),
    [
        ("ro rd.iguana.storage_size=300M quiet", "300M"),
        ("rd.iguana.storage_size=1G rd.iguana.storage_size=75%", "75%"),
        ("rd.iguana.storage_size=4096", "4096"),
        ("root=iguana", ""),
        ("rd.iguana.tmp_size=1G", ""),
    ],
)
def test_the_last_size_wins(tmp_path: Path, cmdline: str, size: str) -> None:
    """The last rd.iguana.storage_size= counts, as with dracut's getarg; none is empty."""
    assert cmdline_size(tmp_path, cmdline) == (size, "")


@pytest.mark.parametrize("bad", ["lots", "M", "1.5G", "-1", "10MiB"])
def test_a_bad_size_is_reported_and_ignored(tmp_path: Path, bad: str) -> None:
    """A value tmpfs would not take is named on stderr and the build's size stays; Iguana's
    parser refuses the same value."""
    out, err = cmdline_size(tmp_path, f"rd.iguana.storage_size={bad}")
    assert out == ""
    assert f"rd.iguana.storage_size={bad} is not a tmpfs size" in err
    with pytest.raises(UsageError, match="expected a tmpfs size"):
        parse_cmdline(f"rd.iguana.storage_size={bad}")


def test_iguana_knows_the_options() -> None:
    """Iguana accepts both options (no unknown-option warning) and keeps their values."""
    config = parse_cmdline("rd.iguana.storage_size=60% rd.iguana.tmp_size=256m")
    assert (config.storage_size, config.tmp_size, config.unknown) == ("60%", "256m", ())
