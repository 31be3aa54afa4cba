"""A workflow file made trustworthy: read it (any transport), then check the digest pin and the
detached signature that the configuration asks for.

Rules: plain http only with a pin or ``rd.iguana.insecure=1`` (and a warning either way); with a
pin the bytes must match it; with a keyring (``/etc/iguana/trusted.gpg``) ``LOCATION.sig`` must
be a good signature by one of its keys, except that a matching pin alone suffices when there is
no signature file (the pin already names the exact bytes).
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from iguana_fsm.cmdline import BootConfig
from iguana_fsm.errors import TrustError
from iguana_fsm.paths import Paths
from iguana_fsm.trust import cabundle, fetcher
from iguana_fsm.trust.fetcher import FetchSettings, HTTPStatusError
from iguana_fsm.trust.policy import ca_bundle, trusted_keyring
from iguana_fsm.trust.signature import check_pin, sha256_hex, verify_detached


@dataclass(frozen=True)
class VerifiedWorkflow:
    """Workflow bytes that passed every configured check, and how they passed."""

    location: str
    data: bytes
    sha256: str
    pinned: bool = False
    signer: str | None = None
    attempts: int = 1
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def verdict(self) -> dict[str, Any]:
        """The checkpoint form of the verdict (``record.details["trust"]["workflow"]``)."""
        return {
            "location": self.location,
            "sha256": self.sha256,
            "pinned": self.pinned,
            "signed_by": self.signer,
            "attempts": self.attempts,
        }


def fetch_settings(config: BootConfig, paths: Paths) -> FetchSettings:
    """Timeouts, deadline and CA bundle from the command line and the configuration dir."""
    settings = FetchSettings(allow_http=bool(config.control_digest) or config.insecure)
    if config.fetch_timeout is not None:
        settings = replace(settings, attempt_timeout=config.fetch_timeout)
    if config.fetch_deadline is not None:
        settings = replace(settings, deadline=config.fetch_deadline)
    extra = ca_bundle(config, paths)
    if extra is not None:
        bundle = cabundle.combined_ca_bundle(extra, paths.run / "trust")
        settings = replace(settings, ca_bundle=bundle)
    return settings


def fetch_workflow(location: str, config: BootConfig, paths: Paths, log: Any) -> VerifiedWorkflow:
    """Read the workflow at ``location`` and check it; FetchError when it cannot be read,
    TrustError when a check refuses it."""
    settings = fetch_settings(config, paths)
    warnings: list[str] = []
    if urllib.parse.urlsplit(location).scheme == "http":
        why = (
            "protected only by the digest pin rd.iguana.control_digest"
            if config.control_digest
            else "NOT protected: rd.iguana.insecure=1"
        )
        warning = f"workflow fetched over plain http ({location}), {why}"
        warnings.append(warning)
        log.warning("fetch.insecure", url=location, warning=warning)
    started = time.monotonic()
    fetched = fetcher.fetch(location, settings, log)
    digest = sha256_hex(fetched.data)
    pinned = False
    if config.control_digest:
        check_pin(fetched.data, config.control_digest, location)
        pinned = True
        log.info("fetch.pin_matched", url=location, sha256=digest)
    signer: str | None = None
    keyring = trusted_keyring(paths)
    if keyring is not None:
        spent = time.monotonic() - started
        left = replace(settings, deadline=max(settings.deadline - spent, settings.attempt_timeout))
        signature = _signature(location, left, log)
        if signature is None and not pinned:
            raise TrustError(
                f"{location}: no signature at {_sig_location(location)}, and {keyring} requires "
                f"one; fix: publish gpg --detach-sign output as {_sig_location(location)} "
                "or pin the workflow with rd.iguana.control_digest=sha256:HEX"
            )
        if signature is not None:
            signer = verify_detached(fetched.data, signature, keyring, location).fingerprint
            log.info("fetch.signature_good", url=location, key=signer)
        else:
            log.info("fetch.unsigned_but_pinned", url=location)
    return VerifiedWorkflow(
        location=fetched.location,
        data=fetched.data,
        sha256=digest,
        pinned=pinned,
        signer=signer,
        attempts=fetched.attempts,
        warnings=tuple(warnings),
    )


def _sig_location(location: str) -> str:
    if fetcher.is_http(location):
        parts = urllib.parse.urlsplit(location)
        return urllib.parse.urlunsplit(parts._replace(path=parts.path + ".sig"))
    return str(fetcher.local_path(location)) + ".sig"


def _signature(location: str, settings: FetchSettings, log: Any) -> bytes | None:
    """The detached signature beside ``location``, None when there is none."""
    sig = _sig_location(location)
    if not fetcher.is_http(location):
        if not Path(sig).exists():
            return None
        return fetcher.read_local(sig).data
    try:
        return fetcher.fetch(sig, settings, log).data
    except HTTPStatusError as error:
        if error.status in (404, 410):
            return None
        raise
