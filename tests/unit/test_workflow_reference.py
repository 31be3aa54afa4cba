"""The OCI image reference grammar."""

from __future__ import annotations

import re

import pytest

from iguana_fsm.workflow.reference import (
    IMAGE_PATTERN,
    ImageReference,
    ReferenceError,
    parse_reference,
    reference_problem,
)

SHA256 = "sha256:" + "0123456789abcdef" * 4
VALID = [
    ("alpine", ImageReference(None, "alpine")),
    ("library/alpine:3.19", ImageReference(None, "library/alpine", "3.19")),
    ("docker.io/library/busybox:1.36", ImageReference("docker.io", "library/busybox", "1.36")),
    ("localhost/x", ImageReference("localhost", "x")),
    ("localhost:5000/a/b:v_1.0-rc", ImageReference("localhost:5000", "a/b", "v_1.0-rc")),
    ("h:65535/x", ImageReference("h:65535", "x")),
    ("h:1/x", ImageReference("h:1", "x")),
    ("127.0.0.1:5000/x@" + SHA256, ImageReference("127.0.0.1:5000", "x", None, SHA256)),
    ("[::1]:5000/x:Tag", ImageReference("[::1]:5000", "x", "Tag")),
    ("Reg.Example.com/a__b/c--d/e.f", ImageReference("Reg.Example.com", "a__b/c--d/e.f")),
    ("x:1@" + SHA256, ImageReference(None, "x", "1", SHA256)),
    ("x@sha512:" + "a" * 128, ImageReference(None, "x", None, "sha512:" + "a" * 128)),
    # sha384 is known to podman's digest library, with 96 hex digits
    ("x@sha384:" + "b" * 96, ImageReference(None, "x", None, "sha384:" + "b" * 96)),
    # 64 hex digits are an image ID only as the whole reference (distribution's rule)
    ("a" * 64 + ":1", ImageReference(None, "a" * 64, "1")),
    ("localhost/" + "a" * 64, ImageReference("localhost", "a" * 64)),
    ("a" * 63, ImageReference(None, "a" * 63)),
    ("b" * 254 + ":t", ImageReference(None, "b" * 254, "t")),
    (
        "registry.opensuse.org/home/djiang/containers/partitioning_container:latest",
        ImageReference(
            "registry.opensuse.org", "home/djiang/containers/partitioning_container", "latest"
        ),
    ),
]
INVALID = [
    ("", "empty"),
    ("alpine ", "white space"),
    ("Alpine", "lowercase"),
    ("example.com/Team/x", "lowercase, not 'Team'"),
    ("a//b", "empty component"),
    ("a/", "empty component"),
    ("/a", "empty component"),
    ("a___b", "separators"),
    ("-a", "separators"),
    ("a-", "separators"),
    ("a:", "tag after ':' is empty"),
    ("a:.x", "tag '.x'"),
    ("a:" + "t" * 129, "must be 1-128"),
    ("a@sha256:" + "0" * 63, "64 hex digits, not 63"),
    ("a@sha256:" + "A" * 64, "lowercase hex"),
    ("a@sha512:" + "0" * 64, "128 hex digits"),
    ("a@md5:" + "0" * 32, "'md5' is not one podman verifies (sha256, sha384, sha512)"),
    ("a@multihash+base58:" + "A" * 32, "is not one podman verifies"),
    ("a@sha384:" + "0" * 64, "sha384 digest must have 96 hex digits, not 64"),
    ("a@sha512:" + "0" * 96, "128 hex digits, not 96"),
    ("0123456789abcdef" * 4, "64 hex digits is an image ID"),
    ("x/" + "b" * 254, "longer than 255"),
    ("a@sha256", "ALGORITHM:HEX"),
    ("a@@sha256:" + "0" * 64, "more than one '@'"),
    ("a@SHA256:" + "0" * 64, "algorithm 'SHA256'"),
    ("host:0/x", "port '0'"),
    ("host:123456/x", "port '123456'"),
    ("host:65536/x", "port '65536'"),
    ("host:05000/x", "port '05000'"),
    ("-bad.example.com/x", "host name"),
    ("x" * 256, "longer than 255"),
    (":tag", "repository name is empty"),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[case[0][:40] for case in VALID])
def test_valid(text: str, expected: ImageReference) -> None:
    """A valid reference parses into its domain, path, tag and digest and prints back."""
    assert parse_reference(text) == expected
    assert str(expected) == text
    assert reference_problem(text) is None


@pytest.mark.parametrize(("text", "why"), INVALID, ids=[case[0][:40] for case in INVALID])
def test_invalid(text: str, why: str) -> None:
    """An invalid reference raises ReferenceError saying which part is wrong."""
    with pytest.raises(ReferenceError, match=re.escape(why)):
        parse_reference(text)


@pytest.mark.parametrize("text", [case[0] for case in VALID])
def test_pattern_accepts_the_valid(text: str) -> None:
    """The schema's one-regex form of the grammar accepts every valid reference."""
    assert re.fullmatch(IMAGE_PATTERN, text)


@pytest.mark.parametrize("text", [case[0] for case in INVALID])
def test_pattern_rejects_the_invalid(text: str) -> None:
    """The regex form rejects what the parser rejects, the length limit included."""
    assert re.fullmatch(IMAGE_PATTERN, text) is None


def test_name_and_repository() -> None:
    """name is the last path component, repository everything before tag and digest."""
    reference = parse_reference("reg.io:5000/a/b/tool:1@" + SHA256)
    assert (reference.name, reference.repository) == ("tool", "reg.io:5000/a/b/tool")
