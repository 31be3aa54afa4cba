"""What a signature refusal looks like in the words of the containers/image library, which
podman and skopeo share: the one place that reads their messages for a meaning.

The podman adapter turns such a pull error into ``SignatureRejected``; ``iguana verify`` reads
skopeo's stderr with the same rule.
"""

from __future__ import annotations

import re

_MSG = re.compile(r'msg="((?:[^"\\]|\\.)*)"')
_GPGME = re.compile(r'gpgme\.Signature\{.*?Fingerprint:\\?"([0-9A-F]+)\\?".*\}')


def is_signature_rejection(words: str) -> bool:
    """Whether the library refused an image under its signature policy (``... rejected``
    with ``signature`` or ``policy``), rather than failing to fetch it."""
    lowered = words.lower()
    return "rejected" in lowered and ("signature" in lowered or "policy" in lowered)


def reason(text: str) -> str:
    """The library's words for a refusal, without log framing (``time=... msg="..."``), a
    ``pull REF:`` prefix or gpgme's struct dump (reduced to the key that signed)."""
    message = _MSG.search(text)
    words = message.group(1).replace('\\"', '"') if message else text.strip()
    words = words.split(": ", 1)[-1] if words.startswith("pull ") else words
    dump = _GPGME.search(words)
    if dump is not None:
        words = (
            words[: dump.start()].rstrip(": ")
            + f" (signed by key {dump.group(1)}, which is not trusted)"
        )
    return words
