"""Reading the containers/image library's words (podman's and skopeo's) for a signature
refusal, as containers-policy.json(5) refusals are worded; real refusals are in
tests/integration/test_trust_images.py."""

from __future__ import annotations

from iguana_fsm.engine.refusals import is_signature_rejection, reason


class TestRefusals:
    def test_signature_and_policy_rejections_are_told_apart(self) -> None:
        """A refusal under the signature policy is one; a pull that failed otherwise is not."""
        assert is_signature_rejection(
            "Source image rejected: A signature was required, but no signature exists"
        )
        assert is_signature_rejection(
            "Source image rejected: Running image x is rejected by policy."
        )
        assert not is_signature_rejection("pull x: manifest unknown")
        assert not is_signature_rejection("connection rejected by peer")

    def test_log_framing_and_pull_prefix_are_dropped(self) -> None:
        """skopeo's ``time=... msg="..."`` framing and podman's ``pull REF:`` prefix go."""
        assert reason('time="t" level=fatal msg="Source image rejected: no \\"sig\\""') == (
            'Source image rejected: no "sig"'
        )
        assert reason("pull reg.example/x:1: Source image rejected: no signature") == (
            "Source image rejected: no signature"
        )

    def test_gpgme_dump_becomes_a_key(self) -> None:
        """gpgme's struct dump is reduced to the key that signed."""
        text = (
            'time="t" level=fatal msg="Source image rejected: Invalid GPG signature: '
            'gpgme.Signature{Summary:128, Fingerprint:\\"ABCDEF0123\\", Status:x}"'
        )
        assert reason(text) == (
            "Source image rejected: Invalid GPG signature "
            "(signed by key ABCDEF0123, which is not trusted)"
        )
