"""Workflow integrity: a sha256 pin and a detached OpenPGP signature checked with gpgv.

gpgv is used rather than a Python OpenPGP library because it is on every Debian and SUSE system
already, needs no agent or home directory state, and only ever answers "good signature by a key
in this keyring" or not.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from iguana_fsm.errors import TrustError, UsageError
from iguana_fsm.tools import last_line, run_tool

_PIN = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")
GPGV_TIMEOUT = 30.0


@dataclass(frozen=True)
class SignatureVerdict:
    """A good signature: the signing key's fingerprint and the keyring that holds it."""

    fingerprint: str
    keyring: Path


def sha256_hex(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def parse_pin(pin: str) -> str:
    """The hex digest of ``sha256:HEX`` (or bare HEX); UsageError for anything else."""
    match = _PIN.fullmatch(pin.strip())
    if match is None:
        raise UsageError(
            f"rd.iguana.control_digest={pin}: expected sha256:<64 hex digits> "
            "(sha256sum of the workflow file)"
        )
    return match.group(1).lower()


def check_pin(data: bytes, pin: str, what: str) -> str:
    """The digest of ``data`` when it matches ``pin``; TrustError naming ``what`` otherwise."""
    want = parse_pin(pin)
    have = sha256_hex(data)
    if have != want:
        raise TrustError(
            f"{what}: sha256 {have} does not match the pin rd.iguana.control_digest=sha256:{want}; "
            "fix: serve the workflow the pin was made from, or pin the new one "
            "(sha256sum FILE)"
        )
    return have


def check_keyring(keyring: Path) -> None:
    """TrustError when ``keyring`` is missing or armored (gpgv needs a binary keyring)."""
    try:
        head = keyring.read_bytes()[:64]
    except OSError as error:
        raise TrustError(f"{keyring}: cannot read the trusted keyring: {error.strerror}") from None
    if head.lstrip().startswith(b"-----BEGIN PGP"):
        raise TrustError(
            f"{keyring}: keyring is ASCII-armored but gpgv needs a binary one; "
            f"fix: gpg --dearmor < KEY.asc > {keyring}"
        )
    if not head:
        raise TrustError(f"{keyring}: the trusted keyring is empty")


def verify_detached(data: bytes, signature: bytes, keyring: Path, what: str) -> SignatureVerdict:
    """The signer of ``data`` when ``signature`` is a good detached signature by a key in
    ``keyring``; TrustError naming ``what`` (a URL or file) and the reason otherwise."""
    check_keyring(keyring)
    with tempfile.TemporaryDirectory(prefix="iguana-gpgv-") as scratch:
        home = Path(scratch)
        data_file = home / "data"
        sig_file = home / "data.sig"
        data_file.write_bytes(data)
        sig_file.write_bytes(signature)
        # gpgv's verdict is in its status lines, whatever its exit code
        result = run_tool(
            [
                "gpgv",
                "--homedir",
                str(home),
                "--status-fd",
                "1",
                "--keyring",
                str(keyring.absolute()),
                str(sig_file),
                str(data_file),
            ],
            f"{what}: cannot check its signature",
            TrustError,
            timeout=GPGV_TIMEOUT,
            check=False,
        )
    status = result.stdout.splitlines()
    words = {line.split()[1]: line.split()[2:] for line in status if len(line.split()) > 1}
    if result.returncode == 0 and "VALIDSIG" in words and "GOODSIG" in words:
        return SignatureVerdict(words["VALIDSIG"][0], keyring)
    raise TrustError(f"{what}: {_refusal(words, result.stderr, keyring)}")


def _refusal(words: dict[str, list[str]], stderr: str, keyring: Path) -> str:
    """The rule that refused a signature, and how to fix it."""
    if "BADSIG" in words:
        return (
            "signature does not match the content (tampered or re-generated); "
            "fix: sign the current file again (gpg --detach-sign)"
        )
    if "NO_PUBKEY" in words or ("ERRSIG" in words and words["ERRSIG"][-1:] == ["9"]):
        key = (words.get("NO_PUBKEY") or words.get("ERRSIG") or ["?"])[0]
        return (
            f"signed by key {key}, which is not in {keyring}; "
            "fix: sign with a trusted key or add its public key to the keyring"
        )
    if "EXPKEYSIG" in words or "REVKEYSIG" in words or "EXPSIG" in words:
        return "signature made by an expired or revoked key; fix: sign with a valid trusted key"
    return (
        f"not a valid detached signature ({last_line(stderr) or 'unknown error'}); "
        "fix: gpg --detach-sign the file"
    )
