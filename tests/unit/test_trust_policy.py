"""The image policy: registries.conf, allow-list and digest rules, and the podman files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iguana_fsm.cmdline import BootConfig, parse_cmdline
from iguana_fsm.errors import TrustError
from iguana_fsm.paths import Paths
from iguana_fsm.trust.policy import (
    check_image,
    load_policy,
    parse_registries,
    policy_document,
    prepare_engine_env,
)

CONF = """\
# the registries this initrd trusts
registry.opensuse.org/yast   lookaside=https://sigs.example.org/
127.0.0.1:5000 require-digest
localhost/dev unsigned   # builds on the workstation
"""


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    """Sandbox paths with an empty /etc/iguana."""
    paths = Paths.for_sandbox(tmp_path)
    paths.config.mkdir(parents=True)
    return paths


def configure(paths: Paths, conf: str | None = CONF, keyring: bool = True) -> None:
    """Write registries.conf and a (fake, non-empty) binary keyring."""
    if conf is not None:
        (paths.config / "registries.conf").write_text(conf)
    if keyring:
        (paths.config / "trusted.gpg").write_bytes(b"\x99\x01binary-key")


class TestRegistriesConf:
    def test_lines_become_rules(self) -> None:
        """Each line is a scope with its flags; comments and blank lines are ignored."""
        rules = parse_registries(CONF, "/etc/iguana/registries.conf")
        assert [rule.scope for rule in rules] == [
            "registry.opensuse.org/yast",
            "127.0.0.1:5000",
            "localhost/dev",
        ]
        assert rules[0].lookaside == "https://sigs.example.org/"
        assert rules[1].require_digest and not rules[1].unsigned
        assert rules[2].unsigned and rules[2].origin == "/etc/iguana/registries.conf:4"

    def test_unknown_flag_names_file_and_line(self) -> None:
        """A typo in a flag is refused with file:line and the known flags."""
        with pytest.raises(TrustError, match=r"^conf:2: unknown flag 'require_digest'; known"):
            parse_registries("a.example.org\nb.example.org require_digest\n", "conf")

    def test_scope_must_be_a_registry(self) -> None:
        """A bare word that cannot be a registry host is refused."""
        with pytest.raises(TrustError, match="conf:1: 'opensuse' is not a registry"):
            parse_registries("opensuse\n", "conf")

    def test_lookaside_must_be_a_url(self) -> None:
        """lookaside= takes an http(s) or file:/// URL."""
        with pytest.raises(TrustError, match="lookaside=/srv/sigs"):
            parse_registries("a.example.org lookaside=/srv/sigs\n", "conf")


class TestLoadPolicy:
    def test_command_line_replaces_file_but_keeps_flags(self, paths: Paths) -> None:
        """rd.iguana.registries= narrows the list; a scope also in the file keeps its flags."""
        configure(paths)
        config = parse_cmdline("rd.iguana.registries=127.0.0.1:5000,other.example.org")
        policy = load_policy(config, paths)
        assert [rule.scope for rule in policy.rules] == ["127.0.0.1:5000", "other.example.org"]
        assert policy.rules[0].require_digest
        assert policy.rules_source == "rd.iguana.registries"

    def test_nothing_configured(self, paths: Paths) -> None:
        """Without configuration there is no allow-list, keyring or CA."""
        policy = load_policy(BootConfig(), paths)
        assert policy.rules == () and policy.keyring is None and policy.ca_bundle is None

    def test_missing_ca_from_command_line_refused(self, paths: Paths) -> None:
        """rd.iguana.ca= naming a missing file is refused, naming it."""
        with pytest.raises(TrustError, match=r"rd\.iguana\.ca=/nope\.pem: no such file"):
            load_policy(BootConfig(ca="/nope.pem"), paths)


class TestCheckImage:
    def test_allowed_image(self, paths: Paths) -> None:
        """An image under an allowed scope passes, the most specific scope naming the rule."""
        configure(paths)
        verdict = check_image(load_policy(BootConfig(), paths), "registry.opensuse.org/yast/x:1")
        assert verdict.scope == "registry.opensuse.org/yast"
        assert verdict.signature_required

    def test_registry_not_in_list(self, paths: Paths) -> None:
        """An image from elsewhere is refused with its name, the list and the fix."""
        configure(paths)
        with pytest.raises(TrustError) as caught:
            check_image(load_policy(BootConfig(), paths), "docker.io/library/busybox:1")
        message = str(caught.value)
        assert message.startswith("image docker.io/library/busybox:1: registry docker.io")
        assert "registry.opensuse.org/yast, 127.0.0.1:5000, localhost/dev" in message
        assert "fix:" in message and "\n" not in message

    def test_scope_prefix_is_a_path_boundary(self, paths: Paths) -> None:
        """registry.opensuse.org/yast does not allow registry.opensuse.org/yastfake."""
        configure(paths)
        with pytest.raises(TrustError, match="not allowed"):
            check_image(load_policy(BootConfig(), paths), "registry.opensuse.org/yastfake/x:1")

    def test_short_name_refused_under_allow_list(self, paths: Paths) -> None:
        """A short name cannot be matched to a registry, so an allow-list refuses it."""
        configure(paths)
        with pytest.raises(TrustError, match="names no registry"):
            check_image(load_policy(BootConfig(), paths), "busybox")

    def test_digest_required(self, paths: Paths) -> None:
        """require-digest refuses a tag and accepts a digest reference."""
        configure(paths)
        policy = load_policy(BootConfig(), paths)
        with pytest.raises(TrustError, match=r"requires a digest .*registries\.conf:3"):
            check_image(policy, "127.0.0.1:5000/x:1")
        digest = "sha256:" + "a" * 64
        assert check_image(policy, f"127.0.0.1:5000/x@{digest}").digest == digest

    def test_unsigned_scope_needs_no_signature(self, paths: Paths) -> None:
        """An ``unsigned`` scope does not demand a signature even with a keyring."""
        configure(paths)
        verdict = check_image(load_policy(BootConfig(), paths), "localhost/dev/tool:1")
        assert not verdict.signature_required

    def test_no_keyring_no_signature(self, paths: Paths) -> None:
        """Without trusted.gpg no signature is required and any registry is allowed."""
        verdict = check_image(load_policy(BootConfig(), paths), "docker.io/library/busybox:1")
        assert not verdict.signature_required and verdict.scope is None


class TestPodmanFiles:
    def test_policy_document_rules(self, paths: Paths) -> None:
        """Listed scopes get signedBy (or accept when unsigned) and everything else is rejected."""
        configure(paths)
        document = policy_document(load_policy(BootConfig(), paths), paths)
        assert document["default"] == [{"type": "reject"}]
        docker = document["transports"]["docker"]  # type: ignore[index]
        keyring = str((paths.config / "trusted.gpg").absolute())
        assert docker["127.0.0.1:5000"] == [
            {"type": "signedBy", "keyType": "GPGKeys", "keyPath": keyring}
        ]
        assert docker["localhost/dev"] == [{"type": "insecureAcceptAnything"}]

    def test_keyring_without_list_signs_every_registry(self, paths: Paths) -> None:
        """With a keyring but no list, every docker image must be signed."""
        configure(paths, conf=None)
        document = policy_document(load_policy(BootConfig(), paths), paths)
        assert document["transports"]["docker"][""][0]["type"] == "signedBy"  # type: ignore[index]

    def test_open_policy_when_nothing_configured(self, paths: Paths) -> None:
        """Without any configuration podman accepts anything, as it would by default."""
        document = policy_document(load_policy(BootConfig(), paths), paths)
        assert document["default"] == [{"type": "insecureAcceptAnything"}]

    def test_prepare_engine_env_writes_home(self, paths: Paths, tmp_path: Path) -> None:
        """The overlay's HOME holds policy.json, registries.d with lookasides, certs.d CAs."""
        configure(paths)
        ca = tmp_path / "ca.pem"
        ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        (paths.config / "ca.pem").write_bytes(ca.read_bytes())
        env = prepare_engine_env(BootConfig(), paths)
        containers = Path(env["HOME"]) / ".config" / "containers"
        assert json.loads((containers / "policy.json").read_text())["default"][0]["type"] == (
            "reject"
        )
        lookaside = json.loads((containers / "registries.d" / "iguana.yaml").read_text())
        assert lookaside == {
            "docker": {"registry.opensuse.org/yast": {"lookaside": "https://sigs.example.org/"}}
        }
        assert (containers / "certs.d" / "127.0.0.1:5000" / "ca.crt").read_bytes() == (
            ca.read_bytes()
        )
        assert ca.read_bytes() in Path(env["SSL_CERT_FILE"]).read_bytes()

    def test_prepare_engine_env_starts_fresh(self, paths: Paths) -> None:
        """A second call removes what the first wrote (no stale CA for a dropped registry)."""
        configure(paths)
        (paths.config / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nx\n")
        home = Path(prepare_engine_env(BootConfig(), paths)["HOME"])
        (paths.config / "registries.conf").write_text("other.example.org\n")
        prepare_engine_env(BootConfig(), paths)
        certs = home / ".config" / "containers" / "certs.d"
        assert sorted(p.name for p in certs.iterdir()) == ["other.example.org"]


class TestBrokenConfiguration:
    def test_engine_env_fails_closed_and_verify_names_the_problem(self, paths: Paths) -> None:
        """A broken registries.conf gives podman a reject-all policy; load_policy names the line."""
        configure(paths, conf="registry.example.org bogus-flag\n")
        env = prepare_engine_env(BootConfig(), paths)
        policy_json = Path(env["HOME"]) / ".config" / "containers" / "policy.json"
        assert json.loads(policy_json.read_text()) == {"default": [{"type": "reject"}]}
        with pytest.raises(TrustError, match=r"registries\.conf:1: unknown flag 'bogus-flag'"):
            load_policy(BootConfig(), paths)

    def test_ca_that_is_not_pem_is_refused(self, paths: Paths) -> None:
        """A ca.pem without certificates is refused, naming the file."""
        (paths.config / "ca.pem").write_text("hello\n")
        with pytest.raises(TrustError, match=r"ca\.pem: not a PEM CA bundle"):
            load_policy(BootConfig(), paths)
        assert "SSL_CERT_FILE" not in prepare_engine_env(BootConfig(), paths)
