"""The image policy: which registries, whether a digest is required, whose signatures count.

Iguana's own configuration is the one place the rules live: ``/etc/iguana/registries.conf``
(or ``rd.iguana.registries=``), ``/etc/iguana/trusted.gpg`` and ``/etc/iguana/ca.pem`` (or
``rd.iguana.ca=``). From them this module checks references itself (allow-list, digest) and
writes the ``policy.json``, ``registries.d`` and ``certs.d`` that the podman service reads from
its ``HOME``, so that podman enforces the signature rule on every pull.

``registries.conf``: one registry scope a line (``host[:port][/namespace]``), then flags:
``require-digest`` (references must carry ``@sha256:``), ``unsigned`` (accept images without a
signature even though a keyring exists) and ``lookaside=URL`` (where the image signatures are).
``#`` starts a comment.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from iguana_fsm.cmdline import BootConfig
from iguana_fsm.errors import TrustError
from iguana_fsm.paths import Paths
from iguana_fsm.trust.cabundle import combined_ca_bundle, read_ca_bundle
from iguana_fsm.workflow.reference import ReferenceError, parse_reference

FLAGS = ("require-digest", "unsigned")


@dataclass(frozen=True)
class RegistryRule:
    """One allowed registry scope and how images from it are treated; ``origin`` is file:line
    or ``rd.iguana.registries``."""

    scope: str
    require_digest: bool = False
    unsigned: bool = False
    lookaside: str | None = None
    origin: str = ""

    @property
    def host(self) -> str:
        """The registry host[:port] of the scope."""
        return self.scope.split("/", 1)[0]

    def covers(self, repository: str) -> bool:
        """Whether ``repository`` (domain/path) is inside this scope."""
        return repository == self.scope or repository.startswith(self.scope + "/")


@dataclass(frozen=True)
class TrustPolicy:
    """The whole image policy. No ``rules`` means no allow-list; no ``keyring`` means
    signatures are not required."""

    rules: tuple[RegistryRule, ...]
    rules_source: str | None
    keyring: Path | None
    ca_bundle: Path | None

    @property
    def allow_list(self) -> str:
        """The allowed scopes as one comma-separated string, for messages."""
        return ", ".join(rule.scope for rule in self.rules)

    def rule_for(self, repository: str) -> RegistryRule | None:
        """The most specific rule covering ``repository``."""
        matches = [rule for rule in self.rules if rule.covers(repository)]
        return max(matches, key=lambda rule: len(rule.scope)) if matches else None


@dataclass(frozen=True)
class ImageVerdict:
    """An image that passed the checks Iguana makes itself; the signature is podman's part."""

    reference: str
    registry: str | None
    scope: str | None
    digest: str | None
    signature_required: bool


def parse_registries(text: str, source: str) -> tuple[RegistryRule, ...]:
    """The rules of a registries.conf; TrustError naming file:line for a bad line."""
    rules: list[RegistryRule] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        origin = f"{source}:{number}"
        scope = words[0].rstrip("/")
        _check_scope(scope, origin)
        fields: dict[str, object] = {}
        for word in words[1:]:
            if word == "require-digest":
                fields["require_digest"] = True
            elif word == "unsigned":
                fields["unsigned"] = True
            elif word.startswith("lookaside="):
                url = word.partition("=")[2]
                if not url.startswith(("http://", "https://", "file:///")):
                    raise TrustError(
                        f"{origin}: lookaside={url}: expected an http(s):// or file:/// URL"
                    )
                fields["lookaside"] = url
            else:
                raise TrustError(
                    f"{origin}: unknown flag {word!r}; known: require-digest, unsigned, "
                    "lookaside=URL"
                )
        rules.append(RegistryRule(scope, origin=origin, **fields))  # type: ignore[arg-type]
    return tuple(rules)


def _check_scope(scope: str, origin: str) -> None:
    host = scope.split("/", 1)[0]
    if "." not in host and ":" not in host and host != "localhost":
        raise TrustError(
            f"{origin}: {scope!r} is not a registry (expected host[:port][/namespace], "
            "e.g. registry.opensuse.org)"
        )
    try:
        parse_reference(scope + "/x" if "/" not in scope else scope)
    except ReferenceError as error:
        raise TrustError(f"{origin}: {scope!r} is not a registry scope: {error}") from None


def load_policy(config: BootConfig, paths: Paths) -> TrustPolicy:
    """The policy that the configuration directory and the command line describe."""
    conf = paths.config / "registries.conf"
    file_rules: tuple[RegistryRule, ...] = ()
    if conf.is_file():
        try:
            file_rules = parse_registries(conf.read_text(encoding="utf-8"), str(conf))
        except OSError as error:
            raise TrustError(f"{conf}: cannot read: {error.strerror}") from None
    rules, source = file_rules, (str(conf) if file_rules else None)
    if config.registries:
        # the command line narrows or replaces the list; a scope also in the file keeps its flags
        by_scope = {rule.scope: rule for rule in file_rules}
        chosen: list[RegistryRule] = []
        for scope in config.registries:
            scope = scope.rstrip("/")
            _check_scope(scope, f"rd.iguana.registries={scope}")
            chosen.append(by_scope.get(scope, RegistryRule(scope, origin="rd.iguana.registries")))
        rules, source = tuple(chosen), "rd.iguana.registries"
    return TrustPolicy(
        rules=rules,
        rules_source=source,
        keyring=trusted_keyring(paths),
        ca_bundle=ca_bundle(config, paths),
    )


def trusted_keyring(paths: Paths) -> Path | None:
    """The trusted keyring shipped in the initrd (``/etc/iguana/trusted.gpg``), if any."""
    keyring = paths.config / "trusted.gpg"
    return keyring if keyring.is_file() else None


def ca_bundle(config: BootConfig, paths: Paths) -> Path | None:
    """The extra CA bundle: ``rd.iguana.ca=`` (must exist) or ``/etc/iguana/ca.pem`` if present."""
    if config.ca:
        path = Path(config.ca)
        if not path.is_file():
            raise TrustError(f"rd.iguana.ca={config.ca}: no such file; fix: name a PEM CA bundle")
    else:
        path = paths.config / "ca.pem"
        if not path.is_file():
            return None
    read_ca_bundle(path)
    return path


def check_image(policy: TrustPolicy, reference: str) -> ImageVerdict:
    """The verdict for ``reference`` under the allow-list and digest rules; TrustError naming
    the image, the rule and the fix when it is refused."""
    try:
        parsed = parse_reference(reference)
    except ReferenceError as error:
        raise TrustError(f"image {reference}: not a valid reference: {error}") from None
    rule: RegistryRule | None = None
    if policy.rules:
        if parsed.domain is None:
            raise TrustError(
                f"image {reference}: names no registry, but only {policy.allow_list} are allowed "
                f"({policy.rules_source}); fix: write the full reference, "
                f"e.g. {policy.rules[0].scope}/{parsed.path}"
            )
        rule = policy.rule_for(parsed.repository)
        if rule is None:
            raise TrustError(
                f"image {reference}: registry {parsed.domain} is not allowed "
                f"(allowed: {policy.allow_list}, from {policy.rules_source}); fix: use an image "
                f"from an allowed registry or add {parsed.domain} to {policy.rules_source}"
            )
        if rule.require_digest and parsed.digest is None:
            raise TrustError(
                f"image {reference}: {rule.scope} requires a digest (require-digest, "
                f"{rule.origin}); fix: pin it as {parsed.repository}@sha256:... "
                f"(skopeo inspect --format '{{{{.Digest}}}}' docker://{reference})"
            )
    return ImageVerdict(
        reference=reference,
        registry=parsed.domain,
        scope=rule.scope if rule else None,
        digest=parsed.digest,
        signature_required=signature_required(policy, rule, parsed.domain),
    )


def signature_required(policy: TrustPolicy, rule: RegistryRule | None, domain: str | None) -> bool:
    """Whether podman will demand a signature for an image under ``rule``."""
    if policy.keyring is None:
        return False
    return not (rule is not None and rule.unsigned)


def signature_refusal(reference: str, engine_words: str, policy: TrustPolicy) -> str:
    """The one-line refusal, with its fix, for an image the engine's signature policy
    rejected (``engine_words``: SignatureRejected.reason)."""
    keyring = policy.keyring or "/etc/iguana/trusted.gpg"
    return (
        f"image {reference}: refused by the signature policy ({engine_words}); "
        f"fix: sign it with a key in {keyring} (podman push --sign-by FINGERPRINT) and publish "
        "the signature where registries.conf's lookaside=URL points"
    )


def policy_document(policy: TrustPolicy, paths: Paths) -> dict[str, object]:
    """The containers-policy.json(5) document that enforces ``policy`` inside podman."""
    accept: list[dict[str, str]] = [{"type": "insecureAcceptAnything"}]
    signed: list[dict[str, str]] = []
    if policy.keyring is not None:
        signed = [
            {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(policy.keyring.absolute())}
        ]
    strict = bool(policy.rules) or policy.keyring is not None
    docker: dict[str, object] = {}
    if policy.rules:
        for rule in policy.rules:
            docker[rule.scope] = accept if (rule.unsigned or not signed) else signed
    elif signed:
        docker[""] = signed
    document: dict[str, object] = {
        "default": [{"type": "reject"}] if strict else accept,
        "transports": {
            "docker": docker,
            # already in local storage: they got there through a checked pull
            "containers-storage": {"": accept},
        },
    }
    return document


def trust_home(paths: Paths) -> Path:
    """The directory the podman service gets as ``HOME`` for its trust configuration."""
    return paths.run / "trust" / "home"


REJECT_ALL: dict[str, object] = {"default": [{"type": "reject"}]}
"""The policy.json written when Iguana's own trust configuration is broken: fail closed."""


def write_engine_files(policy: TrustPolicy | None, paths: Paths) -> Path:
    """Write policy.json, registries.d and certs.d under a fresh ``trust_home``; return it.
    ``policy`` None writes a policy that rejects every image."""
    home = trust_home(paths)
    if home.exists():
        shutil.rmtree(home)
    containers = home / ".config" / "containers"
    (containers / "registries.d").mkdir(parents=True)
    (containers / "certs.d").mkdir()
    document = REJECT_ALL if policy is None else policy_document(policy, paths)
    (containers / "policy.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    rules = policy.rules if policy is not None else ()
    lookasides = {rule.scope: {"lookaside": rule.lookaside} for rule in rules if rule.lookaside}
    registries_d = containers / "registries.d" / "iguana.yaml"
    # JSON is YAML, and saves a YAML writer here
    registries_d.write_text(json.dumps({"docker": lookasides}, indent=2) + "\n", "utf-8")
    if policy is not None and policy.ca_bundle is not None:
        for host in dict.fromkeys(rule.host for rule in rules):
            (containers / "certs.d" / host).mkdir(exist_ok=True)
            shutil.copyfile(policy.ca_bundle, containers / "certs.d" / host / "ca.crt")
    return home


def prepare_engine_env(config: BootConfig, paths: Paths) -> dict[str, str]:
    """Write the podman trust configuration and return the environment overlay that makes the
    podman service (or skopeo) use it. Call before the engine starts.

    Never raises for a broken trust configuration: it then writes a policy that rejects every
    image, and the verify stage raises the same TrustError inside the boot, where the checkpoint
    and ``iguana status`` show it."""
    try:
        policy: TrustPolicy | None = load_policy(config, paths)
    except TrustError:
        policy = None
    home = write_engine_files(policy, paths)
    env = {"HOME": str(home)}
    if policy is not None and policy.ca_bundle is not None:
        try:
            bundle = combined_ca_bundle(policy.ca_bundle, home.parent)
        except TrustError:
            # verify reports it; until then Go's default CAs apply
            return env
        # certs.d only covers listed hosts; Go's SSL_CERT_FILE covers any registry
        env["SSL_CERT_FILE"] = str(bundle)
    return env
