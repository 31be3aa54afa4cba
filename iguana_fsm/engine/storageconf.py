"""podman's storage.conf as podman reads it (as root): the file CONTAINERS_STORAGE_CONF names,
else the first of ``STORAGE_CONFS`` that exists. Iguana reads two things from it: the storage's
directory for a podman without ``--root`` (``graphroot_of``) and the read-only image stores
to pass on to a podman with one (``image_store_options``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

STORAGE_CONFS = (Path("/etc/containers/storage.conf"), Path("/usr/share/containers/storage.conf"))
"""Where podman (as root) reads its storage.conf unless CONTAINERS_STORAGE_CONF names one: the
first of these that exists."""


def storage_section(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``[storage]`` table of the storage.conf podman reads with ``env``; empty when there
    is none or it cannot be read."""
    import tomllib

    named = env.get("CONTAINERS_STORAGE_CONF")
    found = [Path(named)] if named else [conf for conf in STORAGE_CONFS if conf.exists()]
    try:
        section = tomllib.loads(found[0].read_text()).get("storage", {}) if found else {}
    except (OSError, ValueError):
        return {}
    return section if isinstance(section, dict) else {}


def graphroot_of(env: Mapping[str, str]) -> Path | None:
    """Container storage's directory for a podman without ``--root``, as its storage.conf
    names it (None: it names none). Read from the file, because asking the service
    (``/info``) costs it a survey of the host (``ping.py``)."""
    graphroot = storage_section(env).get("graphroot")
    return Path(graphroot) if isinstance(graphroot, str) and graphroot else None


def image_store_options(env: Mapping[str, str]) -> list[str]:
    """For a podman given ``--root``: the storage.conf's ``additionalimagestores`` (read-only
    image stores, used in place) as ``--storage-opt``, because podman 4.3 drops the file's
    storage options once ``--root`` is given (tried here). Nothing when there are none."""
    options = storage_section(env).get("options", {})
    stores = options.get("additionalimagestores") if isinstance(options, dict) else None
    if not isinstance(stores, list) or not stores:
        return []
    return ["--storage-opt", "overlay.imagestore=" + ",".join(str(store) for store in stores)]
