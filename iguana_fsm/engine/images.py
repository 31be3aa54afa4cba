"""Image names as podman reports them (``RepoTags``, ``RepoDigests``), compared with the names
Iguana asked for. Every name is read with the reference grammar of ``workflow/reference.py``;
a name that is not a reference matches nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iguana_fsm.workflow.reference import ImageReference, ReferenceError, parse_reference

DEFAULT_TAG = "latest"
"""The tag a name without tag or digest stands for."""


def _parsed(name: str) -> ImageReference | None:
    try:
        return parse_reference(name)
    except ReferenceError:
        return None


def _same(found: ImageReference, wanted: ImageReference) -> bool:
    """Whether ``found`` is in ``wanted``'s repository; a short name (no registry) matches any
    registry's repository that ends with its path, as podman resolves it."""
    if found.repository == wanted.repository:
        return True
    return wanted.domain is None and found.repository.endswith("/" + wanted.path)


def same_repository(name: str, reference: str) -> bool:
    """Whether two image names share a repository (a short name matches by suffix)."""
    found, wanted = _parsed(name), _parsed(reference)
    return found is not None and wanted is not None and _same(found, wanted)


def names_match(tag: str, reference: str) -> bool:
    """Whether the tagged name ``tag`` is one ``reference`` removes: the same tag, or for a
    digest reference any tag of the same repository."""
    found, wanted = _parsed(tag), _parsed(reference)
    if found is None or wanted is None or not _same(found, wanted):
        return False
    return wanted.digest is not None or found.tag == (wanted.tag or DEFAULT_TAG)


def manifest_digest(reference: str, attrs: Mapping[str, Any]) -> str | None:
    """The manifest digest podman stored for ``reference``'s repository (its RepoDigests).

    For ``repo@sha256:...`` that digest only when podman has it: otherwise the one podman
    has, so a caller comparing it with the pin sees what was really pulled."""
    stored = [_parsed(str(entry)) for entry in attrs.get("RepoDigests") or []]
    digests = [entry for entry in stored if entry is not None and entry.digest is not None]
    wanted = _parsed(reference)
    ours = [entry.digest for entry in digests if wanted is not None and _same(entry, wanted)]
    if wanted is not None and wanted.digest is not None and wanted.digest in ours:
        return wanted.digest
    if ours:
        return ours[0]
    return digests[0].digest if digests else None


def is_digest_reference(reference: str) -> bool:
    """Whether ``reference`` names its image by digest (``repo@sha256:...``)."""
    parsed = _parsed(reference)
    return parsed is not None and parsed.digest is not None
