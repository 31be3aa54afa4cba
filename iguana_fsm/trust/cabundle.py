"""CA bundles for TLS: the distribution's, an operator's extra one, and both combined. Light
(no requests): the podman service's environment is prepared from it before the boot imports the
rest."""

from __future__ import annotations

import ssl
from pathlib import Path

from iguana_fsm.errors import TrustError

SYSTEM_BUNDLES = (
    Path("/etc/ssl/certs/ca-certificates.crt"),  # Debian, Ubuntu, Arch
    Path("/etc/ssl/ca-bundle.pem"),  # SUSE
    Path("/etc/pki/tls/certs/ca-bundle.crt"),  # Fedora, RHEL
)


def system_ca_bundle() -> Path | None:
    """The distribution's CA bundle, or None when this system has none of the known ones."""
    default = ssl.get_default_verify_paths().cafile
    candidates = [Path(default)] if default else []
    candidates.extend(SYSTEM_BUNDLES)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def read_ca_bundle(path: Path) -> bytes:
    """The PEM text of a CA bundle; TrustError naming the file when it is unreadable or not PEM."""
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise TrustError(f"{path}: cannot read the CA bundle: {error.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise TrustError(f"{path}: not a PEM CA bundle (no BEGIN CERTIFICATE line)")
    return pem


def combined_ca_bundle(extra: Path, workdir: Path) -> Path:
    """A bundle file holding the system CAs and ``extra``, so that neither replaces the other."""
    extra_pem = read_ca_bundle(extra)
    system = system_ca_bundle()
    parts = [system.read_bytes()] if system is not None else []
    parts.append(extra_pem)
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = workdir / "ca-bundle.pem"
    bundle.write_bytes(b"\n".join(parts))
    return bundle
