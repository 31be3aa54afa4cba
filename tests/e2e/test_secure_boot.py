"""``make dist``'s signed unified kernel image under Secure Boot: OVMF with a throwaway key
enrolled in db starts it and Iguana finishes the boot; the same image with one byte of its
initrd changed is refused by the firmware. The command line is sealed in the signed image, so
the workflow is named there with its digest pin (rd.iguana.control_url + control_digest): the
unsigned image-source disk cannot change what runs."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.e2e import bootkit, uefikit

pytestmark = pytest.mark.e2e


def _gpg_key(home: Path) -> str:
    """A new signing key in the throwaway GnuPG home ``home``; its fingerprint."""
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    argv = ["gpg", "--batch", "--passphrase", "", "--quick-gen-key"]
    argv += ["Iguana dist test <dist@iguana.test>", "ed25519", "sign", "1d"]
    bootkit.run(argv, env=env)
    listing = bootkit.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env).stdout
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))


@pytest.fixture(scope="module")
def dist(
    tmp_path_factory: pytest.TempPathFactory,
    kernel: bootkit.Kernel,
    systemd_initrd: Path,
    source_tree: Path,
) -> dict[str, Path | str]:
    """make-dist.sh's output for the session's kernel and systemd initrd, the UKI signed with
    a new key, SHA256SUMS signed with a new GPG key, and an OVMF store enrolling the key."""
    top = tmp_path_factory.mktemp("dist")
    key = uefikit.signing_key(top / "keys", "db")
    gnupg = top / "gnupg"
    fingerprint = _gpg_key(gnupg)
    pin = hashlib.sha256((source_tree / "install.yaml").read_bytes()).hexdigest()
    cmdline = (
        "console=ttyS0 root=iguana panic=1 rd.shell=0"
        f" rd.iguana.images=LABEL={bootkit.SOURCE_LABEL}"
        " rd.iguana.control_url=/run/iguana/images/install.yaml"
        f" rd.iguana.control_digest=sha256:{pin}"
    )
    out = top / "out"
    env = {**os.environ, "GNUPGHOME": str(gnupg)}
    argv = [
        str(uefikit.MAKE_DIST),
        "--kernel",
        str(kernel.vmlinuz),
        "--initrd",
        str(systemd_initrd),
    ]
    argv += ["--cmdline", cmdline, "--sb-key", str(key.key), "--sb-cert", str(key.cert)]
    argv += ["--gpg-key", fingerprint, str(out)]
    bootkit.run(argv, env=env)
    keyring = top / "dist.gpg"
    bootkit.run(["gpg", "--batch", "--export", "--output", str(keyring), fingerprint], env=env)
    # gpg started an agent for the throwaway home: it must not outlive the tests
    bootkit.run(["gpgconf", "--homedir", str(gnupg), "--kill", "all"], env=env)
    return {
        "out": out,
        "cmdline": cmdline,
        "cert": key.cert,
        "keyring": keyring,
        "vars": uefikit.enrolled_vars(top / "vars.fd", key.cert),
    }


def test_dist_files_checksums_and_signatures(dist: dict[str, Path | str], tmp_path: Path) -> None:
    """The dist directory holds kernel, initrd, UKI and SHA256SUMS with a detached signature
    that gpgv accepts (and refuses once SHA256SUMS changes); the UKI carries the command line
    and verifies against the signing certificate."""
    out = Path(dist["out"])
    names = sorted(path.name for path in out.iterdir())
    assert names == ["SHA256SUMS", "SHA256SUMS.sig", "iguana.efi", "initrd.img", "vmlinuz"]
    bootkit.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=out)
    verify = ["gpgv", "--keyring", str(dist["keyring"]), str(out / "SHA256SUMS.sig")]
    bootkit.run([*verify, str(out / "SHA256SUMS")])
    changed = tmp_path / "SHA256SUMS"
    changed.write_text((out / "SHA256SUMS").read_text().replace("iguana.efi", "iguana.EFI"))
    assert bootkit.run([*verify, str(changed)], check=False).returncode != 0
    bootkit.run(["sbverify", "--cert", str(dist["cert"]), str(out / "iguana.efi")])
    sealed = tmp_path / "cmdline"
    bootkit.run(
        ["objcopy", "-O", "binary", "--only-section=.cmdline", str(out / "iguana.efi"), str(sealed)]
    )
    assert sealed.read_text().rstrip("\0") == dist["cmdline"]


def test_secure_boot_starts_signed_image_and_iguana_finishes(
    dist: dict[str, Path | str], tmp_path: Path, source_tree: Path
) -> None:
    """With Secure Boot enforcing and the key in db the firmware starts the signed UKI, the
    kernel reports Secure Boot, and Iguana runs the pinned workflow to the switch-root into
    the installed system."""
    esp = uefikit.esp_image(tmp_path / "esp.img", Path(dist["out"]) / "iguana.efi")
    source = bootkit.ext4_image(tmp_path / "source.img", 64, bootkit.SOURCE_LABEL, source_tree)
    target = bootkit.blank_image(tmp_path / "target.img", 64)

    result = uefikit.firmware_boot(
        esp, Path(dist["vars"]), [source, target], tmp_path / "serial.log", timeout=900
    )

    console = result.console
    assert "secureboot: Secure boot enabled" in console, console[-4000:]
    assert bootkit.MARKER in console, console[-4000:]
    offset = bootkit.partition_offset(target, 1)
    record = json.loads(bootkit.read_file(target, "/var/log/iguana/state", offset))
    assert record["state"] == "switch_root"
    assert record["error"] is None


def test_secure_boot_refuses_changed_initrd(dist: dict[str, Path | str], tmp_path: Path) -> None:
    """The same signed UKI with one byte of its embedded initrd changed: the firmware denies
    loading it and no kernel starts."""
    image = Path(dist["out"]) / "iguana.efi"
    data = bytearray(image.read_bytes())
    data[uefikit.section_offset(image, ".initrd") + 4096] ^= 0x01
    tampered = tmp_path / "tampered.efi"
    tampered.write_bytes(bytes(data))
    esp = uefikit.esp_image(tmp_path / "esp.img", tampered)

    result = uefikit.firmware_boot(
        esp, Path(dist["vars"]), [], tmp_path / "serial.log", timeout=300, stop_at="Access Denied"
    )

    assert "Access Denied" in result.console, result.console[-3000:]
    assert "Linux version" not in result.console
    assert "EFI stub" not in result.console
