"""OCI image references: ``[domain[:port]/]path[:tag][@algorithm:hex]``.

The grammar is the one container tools share (the distribution project's reference grammar and
the OCI image-spec digest rules). ``parse_reference`` checks it piece by piece so that a user
learns *which* part is wrong; ``IMAGE_PATTERN`` is the same grammar as one regular expression,
used by the JSON Schema.

Where podman's reference library is stricter than the grammar, Iguana follows podman:

- a reference that is exactly 64 lowercase hex digits is refused: podman reads it as an image
  ID, never as a repository name (with a tag, a digest or a path it is a name again);
- a digest must use an algorithm podman's digest library can verify, each with its exact
  length of lowercase hex: ``sha256`` (64) and ``sha512`` (128), registered by the OCI image
  specification, and ``sha384`` (96), which the digest library also knows. Any other algorithm
  is refused here, because podman would refuse the reference when the job starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
"""A TCP port from 1 to 65535 without leading zeros."""
DOMAIN = rf"{_HOST}(?::{PORT})?"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
ALGORITHM = r"[a-z0-9]+(?:[+._-][a-z0-9]+)*"
DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
"""The digest algorithms podman can verify and the number of lowercase hex digits of each."""
DIGEST = "(?:" + "|".join(f"{name}:[a-f0-9]{{{n}}}" for name, n in DIGEST_LENGTHS.items()) + ")"
NAME_MAX = 255
"""Longest repository name (domain and path) that registries accept."""
_NOT_AN_ID = r"(?![a-f0-9]{64}$)"

IMAGE_PATTERN = (
    rf"^(?=[^@]{{1,{NAME_MAX}}}(?::{TAG})?(?:@|$)){_NOT_AN_ID}"
    rf"(?:{DOMAIN}/)?{PATH_COMPONENT}(?:/{PATH_COMPONENT})*(?::{TAG})?(?:@{DIGEST})?$"
)
"""The whole reference grammar as one regular expression, with the length limit of the name
(a look-ahead: at most NAME_MAX characters before the tag or digest) and podman's refusal of
64-hex-digit names."""

_ID_RE = re.compile(r"[a-f0-9]{64}")
_SPACE_RE = re.compile(r"\s")
_PATH_RE = re.compile(PATH_COMPONENT)
_DOMAIN_RE = re.compile(_HOST)
_TAG_RE = re.compile(TAG)
_PORT_RE = re.compile(PORT)
_ALGORITHM_RE = re.compile(ALGORITHM)
_HEX_RE = re.compile(r"[a-f0-9]+")


@dataclass(frozen=True)
class ImageReference:
    """A parsed reference; ``domain`` is None for a short name that the engine resolves."""

    domain: str | None
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``domain/path`` (or just ``path``), without tag or digest."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def name(self) -> str:
        """The last path component, e.g. ``agama-service``."""
        return self.path.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.repository}{tag}{digest}"


class ReferenceError(ValueError):
    """An image reference breaks the grammar; the message says which part and why."""


def _looks_like_domain(component: str) -> bool:
    """The first component is a registry when it has a dot, a port, or is localhost."""
    return "." in component or ":" in component or component == "localhost"


def _check_domain(domain: str) -> None:
    host, port = domain, None
    if not domain.endswith("]") and ":" in domain:
        host, _, port = domain.rpartition(":")
    if port is not None and not _PORT_RE.fullmatch(port):
        raise ReferenceError(
            f"registry port {port!r} is not a number from 1 to 65535 (without leading zeros)"
        )
    if not _DOMAIN_RE.fullmatch(host):
        raise ReferenceError(f"registry {host!r} is not a valid host name")


def _check_path_component(component: str) -> None:
    if not component:
        raise ReferenceError("repository path has an empty component")
    if _PATH_RE.fullmatch(component):
        return
    if component.lower() != component and _PATH_RE.fullmatch(component.lower()):
        raise ReferenceError(f"repository path must be lowercase, not {component!r}")
    raise ReferenceError(
        f"repository path component {component!r} may only hold a-z, 0-9 and single "
        "separators (. _ __ -) between them"
    )


def _check_digest(digest: str) -> None:
    algorithm, sep, hexpart = digest.partition(":")
    if not sep or not algorithm or not hexpart:
        raise ReferenceError(f"digest {digest!r} must be ALGORITHM:HEX, e.g. sha256:<64 hex>")
    if not _ALGORITHM_RE.fullmatch(algorithm):
        raise ReferenceError(f"digest algorithm {algorithm!r} is not valid")
    want = DIGEST_LENGTHS.get(algorithm)
    if want is None:
        known = ", ".join(DIGEST_LENGTHS)
        raise ReferenceError(f"digest algorithm {algorithm!r} is not one podman verifies ({known})")
    if not _HEX_RE.fullmatch(hexpart):
        raise ReferenceError(f"{algorithm} digest must be lowercase hex digits")
    if len(hexpart) != want:
        raise ReferenceError(f"{algorithm} digest must have {want} hex digits, not {len(hexpart)}")


def parse_reference(text: str) -> ImageReference:
    """The parts of an image reference; ReferenceError says what is wrong with it."""
    if not text:
        raise ReferenceError("image reference is empty")
    if _SPACE_RE.search(text):
        raise ReferenceError("image reference contains white space")
    name_tag, at, digest = text.partition("@")
    if at:
        if "@" in digest:
            raise ReferenceError("image reference has more than one '@'")
        _check_digest(digest)
    colon = name_tag.rfind(":")
    tag: str | None = None
    name = name_tag
    if colon > name_tag.rfind("/"):
        name, tag = name_tag[:colon], name_tag[colon + 1 :]
        if not tag:
            raise ReferenceError("tag after ':' is empty")
        if not _TAG_RE.fullmatch(tag):
            raise ReferenceError(
                f"tag {tag!r} must be 1-128 of A-Z a-z 0-9 _ . - and not start with . or -"
            )
    if not name:
        raise ReferenceError("repository name is empty")
    if len(name) > NAME_MAX:
        raise ReferenceError(f"repository name is longer than {NAME_MAX} characters")
    if _ID_RE.fullmatch(text):
        raise ReferenceError(
            "a name of 64 hex digits is an image ID, which podman refuses as a name; "
            "add a registry or a path (e.g. localhost/NAME)"
        )
    components = name.split("/")
    domain: str | None = None
    if len(components) > 1 and _looks_like_domain(components[0]):
        domain = components.pop(0)
        _check_domain(domain)
    for component in components:
        _check_path_component(component)
    return ImageReference(domain, "/".join(components), tag, digest or None)


def reference_problem(text: str) -> str | None:
    """Why ``text`` is not a valid image reference, or None when it is one."""
    try:
        parse_reference(text)
    except ReferenceError as error:
        return str(error)
    return None
