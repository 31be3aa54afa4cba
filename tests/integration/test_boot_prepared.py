"""iguana-boot's start of Iguana beside the initrd's preparation (``run_when_prepared`` in
dracut/95iguana/iguana-boot.sh) with the real ``prepared.wait`` on the other end of the FIFO,
under the shells an initrd may have: Iguana imports while the preparation runs, boots only
after it succeeded, and after a failure ends with nothing done and the preparation's code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BOOT = REPO / "dracut/95iguana/iguana-boot.sh"
LIB = REPO / "dracut/95iguana/iguana-lib.sh"
SHELLS = {"dash": ["dash"], "bash": ["bash", "--posix"]}

# Iguana's side: the real wait, "meanwhile" when it came first, then the boot.
IGUANA = """
import sys
from pathlib import Path
from iguana_fsm import prepared
log = Path(sys.argv[1])
def note(word):
    with log.open("a") as out:
        out.write(word + "\\n")
prepared.wait(lambda: note("meanwhile"))
note("boot")
raise SystemExit(int(sys.argv[2]))
"""


def _function(text: str, name: str) -> str:
    """One shell function of ``text``, as written."""
    start = text.index(f"{name}() {{")
    return text[start : text.index("\n}\n", start) + 3]


def _run(shell: str, tmp_path: Path, prepare_rc: int, iguana_rc: int) -> tuple[str, list[str]]:
    """``run_when_prepared run`` with a preparation that takes a moment and ends with
    ``prepare_rc`` and an Iguana that ends with ``iguana_rc``: "rc ran" and the log."""
    assert shutil.which(SHELLS[shell][0]), f"{shell} is not installed"
    text = BOOT.read_text()
    functions = "\n".join(
        _function(text, name)
        for name in ("seconds_since_boot", "prepare_and_tell", "run_when_prepared")
    )
    log = tmp_path / "log"
    script = f"""
. "{LIB}"
iguana_say() {{ echo "iguana: $*" >&2; }}
prepare() {{ sleep 0.5; echo prepared >> "{log}"; return {prepare_rc}; }}
iguana() {{ "{sys.executable}" -c "$IGUANA" "{log}" {iguana_rc}; }}
{functions}
run_when_prepared run
echo "$rc $ran"
"""
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        "IGUANA": IGUANA,
        "IGUANA_PREPARED_FIFO": str(tmp_path / "prepared"),
    }
    done = subprocess.run(
        [*SHELLS[shell], "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "prepared").exists()
    return done.stdout.strip(), log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_iguana_imports_meanwhile_and_boots_after_the_preparation(
    shell: str, tmp_path: Path
) -> None:
    """A successful preparation: Iguana did its imports before it ended, booted after it, and
    its exit code is the boot's."""
    result, log = _run(shell, tmp_path, 0, 6)
    assert log == ["meanwhile", "prepared", "boot"]
    assert result == "6 1"


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_a_failed_preparation_leaves_the_boot_undone(shell: str, tmp_path: Path) -> None:
    """A preparation that fails with 3 (locate): Iguana never boots, the code is 3 and the
    boot counts as not run (the shell saves the report)."""
    result, log = _run(shell, tmp_path, 3, 0)
    assert log == ["meanwhile", "prepared"]
    assert result == "3"
