"""The initrd's shell helpers (dracut/95iguana/iguana-lib.sh) under the shells an initrd may
have as /bin/sh, without booting: kernel command line values written for iguana-boot to source
stay data, and the shell copies the report only when Iguana could not have left it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

LIB = Path(__file__).resolve().parents[2] / "dracut" / "95iguana" / "iguana-lib.sh"
SHELLS = {"dash": ["dash"], "busybox": ["busybox", "sh"], "bash": ["bash", "--posix"]}

# The cmdline hook's part: dracut's getarg (value on stdout, status 1 when absent) is stubbed
# with the test's values; iguana_write_env then writes the file iguana-boot sources.
WRITE = """
. "$LIB"
getarg() {
    case "$1" in
        rd.iguana.images=) printf '%s' "$IMAGES" ;;
        rd.iguana.report=) [ -n "${REPORT+set}" ] || return 1; printf '%s' "$REPORT" ;;
        *) return 1 ;;
    esac
}
iguana_write_env "$ENV_FILE"
"""
# iguana-boot's part: source the file and hand the values back byte for byte.
READ = """
unset IGUANA_IMAGES IGUANA_REPORT
. "$ENV_FILE"
printf '%s' "${IGUANA_IMAGES-<unset>}" > "$OUT/images"
printf '%s' "${IGUANA_REPORT-<unset>}" > "$OUT/report"
"""

# What sh treats specially, mixed densely (plain random bytes rarely line them up).
SPECIAL = st.lists(st.sampled_from(list(b"'\\\"$`()%;\n *")), max_size=24).map(bytes)
HOSTILE = [
    "x'$(touch {canary})'",
    "'; touch {canary}; '",
    "LABEL=a'\\''$(touch {canary})",
    "`touch {canary}`",
    "$(touch {canary})",
    "'\n touch {canary}\n'",
    "''''",
    "a\\'b\\\\'c",
    '" $HOME %s %n \\',
    "LABEL=report disk",
]


def _shell(name: str) -> list[str]:
    """The shell's command line; a missing shell is an error, not a skip."""
    command = SHELLS[name]
    assert shutil.which(command[0]), f"{command[0]} is not installed (apt-get install {name})"
    return command


def _round_trip(shell: str, tmp: Path, images: bytes, report: bytes | None) -> tuple[bytes, bytes]:
    """Write the env file from these values with one shell process, source it in another; the
    values read back."""
    env_file, out = tmp / "initrd.env", tmp / "out"
    out.mkdir(exist_ok=True)
    env: dict[bytes, bytes] = {
        b"PATH": os.environb.get(b"PATH", b"/usr/bin:/bin"),
        b"LIB": bytes(LIB),
        b"ENV_FILE": bytes(env_file),
        b"OUT": bytes(out),
        b"IMAGES": images,
    }
    if report is not None:
        env[b"REPORT"] = report
    for script in (WRITE, READ):
        subprocess.run([*_shell(shell), "-c", script], env=env, check=True, cwd=tmp)
    return (out / "images").read_bytes(), (out / "report").read_bytes()


@pytest.mark.parametrize("shell", sorted(SHELLS))
@pytest.mark.parametrize("hostile", HOSTILE)
def test_cmdline_values_are_sourced_as_data(shell: str, hostile: str, tmp_path: Path) -> None:
    """A value with quotes and command substitutions comes back from the sourced env file exactly
    as given, and the command it carries never runs."""
    canary = tmp_path / "canary"
    value = hostile.replace("{canary}", str(canary)).encode()

    images, report = _round_trip(shell, tmp_path, b"LABEL=" + value, value)

    assert not canary.exists(), f"{shell} ran a command from the kernel command line"
    assert images == b"LABEL=" + value
    assert report == value


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_absent_option_stays_unset(shell: str, tmp_path: Path) -> None:
    """An option missing from the command line leaves its variable unset in the env file."""
    images, report = _round_trip(shell, tmp_path, b"/dev/vda", None)

    assert images == b"/dev/vda"
    assert report == b"<unset>"


def _possible(value: bytes) -> bool:
    """A value getarg can hand over: no NUL, no trailing newline (its $(...) drops those)."""
    return b"\0" not in value and not value.endswith(b"\n")


@pytest.mark.parametrize("shell", sorted(SHELLS))
@settings(max_examples=40, deadline=None)
@given(value=st.one_of(SPECIAL, st.binary(max_size=24)).filter(_possible))
def test_any_bytes_round_trip(
    shell: str, value: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Any byte string getarg can return, quotes and backslashes included, reads back unchanged."""
    tmp = tmp_path_factory.mktemp("env")

    images, report = _round_trip(shell, tmp, b"x" + value, value + b"'")

    assert images == b"x" + value
    assert report == value + b"'"


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_shell_copies_the_report_only_when_iguana_could_not(shell: str) -> None:
    """iguana-boot copies the report after a crash (1), a Python that did not start (126, 127)
    or a killed one (128+N); after a finished or failed boot (0, 2-12) Iguana left it itself."""
    script = '. "$0"; for rc in "$@"; do iguana_report_left_to_shell "$rc" && echo "$rc"; done'
    codes = [str(code) for code in [*range(13), 126, 127, 130, 137, 143]]

    result = subprocess.run(
        [*_shell(shell), "-c", script, str(LIB), *codes], capture_output=True, check=True
    )

    assert result.stdout.decode().split() == ["1", "126", "127", "130", "137", "143"]


def _uptime() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]))


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_network_deadline_is_now_plus_the_timeout(shell: str) -> None:
    """The cmdline hook's network deadline is the uptime plus rd.iguana.net_timeout in whole
    seconds (at least 1), and 60 s when the value is missing or not a plain number (Iguana
    itself refuses such a value with its usage error)."""
    given = {"5": 5, "2.5": 2, "0.5": 1, "0": 1, "": 60, "abc": 60, "-3": 60, "1e3": 60,
             ".5": 60, "1.2.3": 60, "5 ; touch x": 60}  # fmt: skip
    script = '. "$0"; for t in "$@"; do iguana_net_deadline "$t"; done'

    before = _uptime()
    result = subprocess.run(
        [*_shell(shell), "-c", script, str(LIB), *given], capture_output=True, check=True
    )
    after = _uptime()

    deadlines = [int(word) for word in result.stdout.decode().split()]
    for (value, timeout), deadline in zip(given.items(), deadlines, strict=True):
        assert before + timeout <= deadline <= after + timeout, (value, deadline)


# The rescue shell's report copy, on a real loop device whose file system plants links.
SAVE = """
. "$LIB"
IGUANA_DIR="$SRC"
iguana_find_device() { printf '%s' "$DEVICE"; }
iguana_say() { printf '%s\\n' "$*"; }
iguana_save_report
"""


@pytest.mark.parametrize("planted", ["directory", "file"])
def test_shell_report_copy_never_writes_through_a_link(tmp_path: Path, planted: str) -> None:
    """A report device whose iguana-report (or iguana-report/state) is a link to a host path
    gets nothing written through the link."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "state").write_text("host file\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    if planted == "directory":
        (tree / "iguana-report").symlink_to(host)
    else:
        (tree / "iguana-report").mkdir()
        (tree / "iguana-report" / "state").symlink_to(host / "state")
    image = tmp_path / "report.img"
    subprocess.run(["truncate", "-s", "16M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-d", str(tree), str(image)], check=True)
    source = tmp_path / "iguana"
    source.mkdir()
    (source / "state").write_text('{"state": "rescue"}\n')
    loop = subprocess.run(
        ["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=True
    ).stdout.strip()
    run_dir = Path("/run/iguana/report")
    try:
        env = {
            **os.environ,
            "LIB": str(LIB),
            "SRC": str(source),
            "DEVICE": loop,
            "IGUANA_REPORT": f"{loop}",
        }
        subprocess.run(["sh", "-c", SAVE], env=env, capture_output=True, text=True, check=False)
    finally:
        subprocess.run(["umount", str(run_dir)], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", loop], check=False)
    assert (host / "state").read_text() == "host file\n"
    assert sorted(path.name for path in host.iterdir()) == ["state"]
    if planted == "file":
        listing = subprocess.run(
            ["debugfs", "-R", "stat /iguana-report/state", str(image)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "Type: regular" in listing


FIND = """
. "$LIB"
iguana_find_device "$SPEC" "$SECONDS_LEFT"
"""


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_find_device_by_label_and_path(shell: str, tmp_path: Path) -> None:
    """iguana_find_device prints the loop device a LABEL= names (blkid), a path that exists as
    given, and fails once its time is up for a label no device has."""
    label = f"IGQF{os.getpid() % 100000}"
    image = tmp_path / "labelled.img"
    subprocess.run(["truncate", "-s", "8M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-L", label, str(image)], check=True)
    loop = subprocess.run(
        ["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:

        def find(spec: str, seconds: int) -> subprocess.CompletedProcess[str]:
            env = {**os.environ, "LIB": str(LIB), "SPEC": spec, "SECONDS_LEFT": str(seconds)}
            command = [*_shell(shell), "-c", FIND]
            return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

        found = find(f"LABEL={label}", 5)
        assert (found.returncode, found.stdout.strip()) == (0, loop)
        found = find(loop, 5)
        assert (found.returncode, found.stdout.strip()) == (0, loop)
        missing = find(f"LABEL={label}-absent", 1)
        assert (missing.returncode, missing.stdout) == (1, "")
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
