"""UEFI boots for the Secure Boot test: a throwaway signing key, an OVMF variable store with
that key enrolled (PK, KEK, db) and Secure Boot on (virt-firmware's virt-fw-vars), an EFI
system partition image holding one boot loader, and QEMU (q35, SMM) running Debian's
Secure Boot OVMF build."""

from __future__ import annotations

import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.bootkit import Boot, run, run_qemu

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
"""Debian's ovmf: the Secure Boot capable firmware and its empty variable store."""
MAKE_DIST = Path(__file__).resolve().parents[2] / "packaging" / "make-dist.sh"


@dataclass(frozen=True)
class SigningKey:
    """A private key and its self-signed certificate (PEM)."""

    key: Path
    cert: Path


def signing_key(directory: Path, name: str) -> SigningKey:
    """A new RSA key and certificate, made with openssl for this test run only."""
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    argv = ["openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256"]
    argv += [
        "-days",
        "2",
        "-subj",
        f"/CN=Iguana test {name}",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    ]
    run(argv)
    return SigningKey(key, cert)


def enrolled_vars(path: Path, cert: Path) -> Path:
    """An OVMF variable store with ``cert`` as PK, KEK and db and Secure Boot enabled."""
    owner = str(uuid.uuid4())
    tool = Path(sys.executable).with_name("virt-fw-vars")
    argv = [str(tool), "--input", str(OVMF_VARS), "--output", str(path)]
    argv += ["--set-pk", owner, str(cert), "--add-kek", owner, str(cert)]
    argv += ["--add-db", owner, str(cert), "--sb"]
    run(argv)
    return path


def esp_image(path: Path, loader: Path) -> Path:
    """A FAT EFI system partition image with ``loader`` as the removable-media boot path
    \\EFI\\BOOT\\BOOTX64.EFI (what the firmware starts when no boot entry exists)."""
    path.unlink(missing_ok=True)
    size_kib = (loader.stat().st_size // 1024) * 3 // 2 + 8192
    run(["mkfs.vfat", "-C", "-n", "IGUANA-ESP", str(path), str(size_kib)])
    run(["mmd", "-i", str(path), "::/EFI", "::/EFI/BOOT"])
    run(["mcopy", "-i", str(path), str(loader), "::/EFI/BOOT/BOOTX64.EFI"])
    return path


def section_offset(image: Path, name: str) -> int:
    """The file offset of PE section ``name`` (objdump -h)."""
    for line in run(["objdump", "-h", str(image)]).stdout.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == name:
            return int(fields[5], 16)
    raise AssertionError(f"{image} has no {name} section")


def firmware_boot(
    esp: Path,
    variables: Path,
    disks: list[Path],
    log: Path,
    timeout: float,
    stop_at: str | None = None,
) -> Boot:
    """Boot the firmware (Secure Boot OVMF on q35 with SMM) from ``esp`` (a SATA disk, so
    that ``disks`` stay vda, vdb, ... as in the direct-kernel boots), the serial console in
    ``log``. With ``stop_at`` QEMU is stopped as soon as the console shows that text."""
    store = log.with_suffix(".vars.fd")
    shutil.copyfile(variables, store)
    machine = ["-machine", "q35,smm=on", "-m", "1024"]
    machine += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
    machine += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"]
    machine += ["-drive", f"if=pflash,format=raw,unit=1,file={store}", "-nic", "none"]
    machine += ["-drive", f"file={esp},format=raw,if=none,id=esp"]
    machine += ["-device", "ide-hd,drive=esp,bus=ide.0,bootindex=1"]
    try:
        return run_qemu(machine, disks, log, timeout, stop_at=stop_at)
    finally:
        store.unlink(missing_ok=True)
