"""What a registry says about an image before any layer is downloaded: its manifest digest and
the bytes of its layers and config (the distribution API, ``GET /v2/NAME/manifests/REF``).

podman's REST API answers a remote manifest inspection with the manifest list form only (no
layers), so Iguana asks the registry itself, the way podman would reach it: https with the CA
bundle podman gets (``SSL_CERT_FILE``), plain http only for a registry that registries.conf
marks ``insecure``, an anonymous bearer token when the registry asks for one. Anything else
(credentials, a registry that cannot be reached) leaves the size unknown: the pull in verify
measures it then, so a boot never fails for want of a size.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from iguana_fsm.engine.base import RemoteImage
from iguana_fsm.workflow.reference import ReferenceError, parse_reference

TIMEOUT = 20.0
"""Seconds one request to a registry may take."""

MANIFESTS = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
LISTS = MANIFESTS[:2]
MAX_MANIFEST = 4 * 1024 * 1024

EXPANSION = 2.0
"""How many times its compressed size a compressed layer is estimated to take once unpacked,
until a pull measures the image (plain tar layers count as they are)."""

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}


class RemoteUnknown(Exception):
    """The registry could not tell (unreachable, credentials needed, an odd manifest)."""


def inspect_remote(reference: str, env: Mapping[str, str]) -> RemoteImage:
    """Digest and sizes of ``reference`` from its registry; RemoteUnknown when it cannot say.
    ``env`` is the environment podman gets (SSL_CERT_FILE, CONTAINERS_REGISTRIES_CONF)."""
    try:
        parsed = parse_reference(reference)
    except ReferenceError as error:
        raise RemoteUnknown(str(error)) from None
    if parsed.domain is None:
        raise RemoteUnknown("a short name: podman chooses the registry")
    path = parsed.path
    if parsed.domain == "docker.io" and "/" not in path:
        path = "library/" + path
    config = _registries(env)
    failures: list[str] = []
    for host, repository in _endpoints(f"{parsed.domain}/{path}", config):
        if host == "docker.io":
            host = "registry-1.docker.io"
        client = _Client(host, repository, host in config.insecure, env)
        try:
            body, digest = client.manifest(parsed.digest or parsed.tag or "latest")
            manifest = _decode(body)
            if manifest.get("mediaType") in LISTS or "manifests" in manifest:
                body, _ = client.manifest(_platform_digest(manifest))
                manifest = _decode(body)
        except RemoteUnknown as error:
            failures.append(str(error))
            continue
        return _sizes(reference, digest, manifest)
    raise RemoteUnknown("; ".join(failures))


def _sizes(reference: str, digest: str, manifest: dict[str, Any]) -> RemoteImage:
    layers = manifest.get("layers")
    config = manifest.get("config")
    if not isinstance(layers, list) or not isinstance(config, dict):
        raise RemoteUnknown("the manifest names no layers (schema 1?)")
    download = _size(config)
    unpacked = download
    blobs = []
    for layer in layers:
        size = _size(layer)
        download += size
        plain = str(layer.get("mediaType", "")).endswith(".tar")
        unpacked += size if plain else int(size * EXPANSION)
        blobs.append((str(layer.get("digest")), size))
    return RemoteImage(
        reference, digest, download, unpacked, len(layers), tuple(blobs), _size(config)
    )


def _size(descriptor: Any) -> int:
    size = descriptor.get("size") if isinstance(descriptor, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RemoteUnknown("a descriptor without a size")
    return size


def _decode(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise RemoteUnknown("the manifest is not JSON") from None
    if not isinstance(data, dict):
        raise RemoteUnknown("the manifest is not a JSON object")
    return data


def _platform_digest(index: dict[str, Any]) -> str:
    arch = _ARCH.get(platform.machine(), platform.machine())
    for entry in index.get("manifests") or []:
        wanted = entry.get("platform") or {}
        if wanted.get("os") == "linux" and wanted.get("architecture") == arch:
            return str(entry.get("digest"))
    raise RemoteUnknown(f"the image list has no linux/{arch} image")


@dataclass
class _Registries:
    """What registries.conf says that matters here: plain-http hosts, and the mirrors of each
    prefix (``[[registry]]`` with ``[[registry.mirror]]``), tried first as podman does."""

    insecure: set[str] = field(default_factory=set)
    mirrors: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    """prefix -> (location, mirror locations)."""


def _registries(env: Mapping[str, str]) -> _Registries:
    """registries.conf: ``CONTAINERS_REGISTRIES_CONF``, or the system's file and drop-ins."""
    main = Path(env.get("CONTAINERS_REGISTRIES_CONF") or "/etc/containers/registries.conf")
    files = [main]
    if "CONTAINERS_REGISTRIES_CONF" not in env:
        files += sorted(Path("/etc/containers/registries.conf.d").glob("*.conf"))
    found = _Registries()
    for file in files:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for entry in data.get("registry") or []:
            if isinstance(entry, dict):
                _read_entry(entry, found)
    return found


def _read_entry(entry: dict[str, Any], found: _Registries) -> None:
    location = str(entry.get("location") or entry.get("prefix") or "")
    if entry.get("insecure") is True:
        found.insecure.add(location.split("/", 1)[0])
    mirrors = []
    for mirror in entry.get("mirror") or []:
        if isinstance(mirror, dict) and mirror.get("location"):
            mirrors.append(str(mirror["location"]))
            if mirror.get("insecure") is True:
                found.insecure.add(str(mirror["location"]).split("/", 1)[0])
    if mirrors or entry.get("prefix"):
        found.mirrors[str(entry.get("prefix") or location)] = (location, mirrors)


def _endpoints(repository: str, config: _Registries) -> list[tuple[str, str]]:
    """(host, path) pairs to ask for ``repository``: the mirrors of its longest matching
    prefix, then its location (the repository itself when no prefix matches)."""
    prefixes = [
        prefix
        for prefix in config.mirrors
        if repository == prefix or repository.startswith(prefix.rstrip("/") + "/")
    ]
    if not prefixes:
        locations = [repository]
    else:
        prefix = max(prefixes, key=len)
        location, mirrors = config.mirrors[prefix]
        tail = repository[len(prefix) :]
        locations = [mirror + tail for mirror in mirrors] + [location + tail]
    return [tuple(place.split("/", 1)) for place in locations if "/" in place]  # type: ignore[misc]


class _Client:
    """Requests to one repository of one registry."""

    def __init__(self, host: str, path: str, insecure: bool, env: Mapping[str, str]) -> None:
        self.host, self.path = host, path
        self.base = f"{'http' if insecure else 'https'}://{host}/v2/{path}"
        bundle = env.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_FILE")
        self.verify: str | bool = bundle or True
        self.token: str | None = None

    def manifest(self, ref: str) -> tuple[bytes, str]:
        """The manifest's bytes and its digest."""
        response = self._get(f"{self.base}/manifests/{ref}")
        body = response.content
        if len(body) > MAX_MANIFEST:
            raise RemoteUnknown("the manifest is too large")
        digest = response.headers.get("Docker-Content-Digest")
        if not digest or not digest.startswith("sha256:"):
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
        return body, digest

    def _get(self, url: str) -> requests.Response:
        response = self._request(url)
        if response.status_code == 401 and self.token is None:
            self.token = self._anonymous_token(response.headers.get("WWW-Authenticate", ""))
            response = self._request(url)
        if response.status_code != 200:
            raise RemoteUnknown(f"{url}: HTTP {response.status_code}")
        return response

    def _request(self, url: str) -> requests.Response:
        headers = {"Accept": ", ".join(MANIFESTS)}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            return requests.get(
                url, headers=headers, timeout=TIMEOUT, verify=self.verify, allow_redirects=True
            )
        except requests.RequestException as error:
            raise RemoteUnknown(f"{self.host}: {type(error).__name__}") from None

    def _anonymous_token(self, challenge: str) -> str:
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        if not challenge.lower().startswith("bearer") or "realm" not in fields:
            raise RemoteUnknown(f"{self.host}: credentials needed")
        params = {key: fields[key] for key in ("service", "scope") if key in fields}
        params.setdefault("scope", f"repository:{self.path}:pull")
        try:
            answer = requests.get(
                fields["realm"], params=params, timeout=TIMEOUT, verify=self.verify
            ).json()
        except (requests.RequestException, ValueError):
            raise RemoteUnknown(f"{self.host}: no anonymous token") from None
        token = (
            answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
        )
        if not token:
            raise RemoteUnknown(f"{self.host}: no anonymous token")
        return str(token)
