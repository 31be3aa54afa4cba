"""The dracut modules take their build-time settings from a dracut configuration snippet (as
/etc/dracut.conf.d/ holds), environment variables override single settings, and only the files
the settings name reach the initrd (checked by reading the built initrd with lsinitrd)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e import bootkit

pytestmark = pytest.mark.integration


def _build(
    output: Path, kernel: bootkit.Kernel, snippet: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Build a shell initrd (only the ext4 driver) with ``snippet`` as its dracut config."""
    conf = output.with_suffix(".conf")
    conf.write_text(snippet)
    argv = [str(bootkit.BUILD_INITRD), "--kver", kernel.release, "--kmoddir", str(kernel.moddir)]
    argv += ["--no-systemd", "--drivers", "ext4", "--conf", str(conf), str(output)]
    environment = {**os.environ, "TMPDIR": str(output.parent), **(env or {})}
    return bootkit.run(argv, check=False, env=environment)


def _lsinitrd(*args: str) -> str:
    """lsinitrd's output (file names and contents may hold any bytes)."""
    result = subprocess.run(["lsinitrd", *args], capture_output=True, check=True)
    return result.stdout.decode(errors="replace")


def test_settings_from_snippet_and_environment(tmp_path: Path, kernel: bootkit.Kernel) -> None:
    """Each iguana_* setting puts its file under its fixed /etc/iguana name, the tmpfs sizes
    reach podman-setup, IGUANA_* variables win over the snippet, and a confdir gives only the
    four known names."""
    files = {}
    for name in ("control-conf", "control-env", "keyring", "registries", "dir-registries"):
        files[name] = tmp_path / name
        files[name].write_text(f"content of {name}\n")
    confdir = tmp_path / "confdir"
    confdir.mkdir()
    (confdir / "ca.pem").write_text("content of confdir ca\n")
    (confdir / "registries.conf").write_text("content of confdir registries\n")
    (confdir / "secret.key").write_text("must not reach the initrd\n")
    snippet = (
        f"iguana_control={files['control-conf']}\n"
        f"iguana_keyring={files['keyring']}\n"
        f"iguana_registries={files['registries']}\n"
        f"iguana_confdir={confdir}\n"
        "iguana_storage_size=75%\n"
        "iguana_tmp_size=64m\n"
    )
    env = {"IGUANA_CONTROL": str(files["control-env"]), "IGUANA_TMP_SIZE": "128m"}
    initrd = tmp_path / "initrd.img"

    result = _build(initrd, kernel, snippet, env)

    assert result.returncode == 0, result.stderr[-3000:]
    listing = _lsinitrd(str(initrd))
    carried = sorted(line.split()[-1] for line in listing.splitlines() if " etc/iguana/" in line)
    assert carried == [
        "etc/iguana/ca.pem",
        "etc/iguana/control.yaml",
        "etc/iguana/registries.conf",
        "etc/iguana/trusted.gpg",
    ]
    assert _lsinitrd("-f", "etc/iguana/control.yaml", str(initrd)) == "content of control-env\n"
    assert _lsinitrd("-f", "etc/iguana/trusted.gpg", str(initrd)) == "content of keyring\n"
    assert _lsinitrd("-f", "etc/iguana/registries.conf", str(initrd)) == "content of registries\n"
    assert _lsinitrd("-f", "etc/iguana/ca.pem", str(initrd)) == "content of confdir ca\n"
    assert "secret.key" not in listing
    sizes = _lsinitrd("-f", "usr/lib/iguana/podman-setup.conf", str(initrd))
    assert sizes.splitlines() == ["IGUANA_STORAGE_SIZE=75%", "IGUANA_TMP_SIZE=128m"]


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("iguana_storage_size=lots\n", "iguana_storage_size=lots: not a tmpfs size"),
        ("iguana_keyring=/nonexistent/trusted.gpg\n",
         "iguana_keyring=/nonexistent/trusted.gpg: no such file"),
    ],
)  # fmt: skip
def test_bad_setting_stops_the_build(
    tmp_path: Path, kernel: bootkit.Kernel, snippet: str, message: str
) -> None:
    """A setting that is not a size, or names a missing file, fails the dracut run with a
    message naming the setting, and leaves no initrd behind."""
    initrd = tmp_path / "initrd.img"

    result = _build(initrd, kernel, snippet)

    assert result.returncode != 0
    assert message in result.stderr + result.stdout, result.stderr[-3000:]
    assert not initrd.exists()
