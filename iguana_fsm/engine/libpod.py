"""The libpod SpecGenerator (the body of ``POST /libpod/containers/create``) for a ContainerSpec.

podman-py cannot express anonymous volumes, so the body is written here. It is a translation
of the spec, field by field: nothing is added that the spec does not say.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from iguana_fsm.engine.base import ContainerSpec


def container_body(
    spec: ContainerSpec, *, terminal: bool = False, stdin: bool = False
) -> dict[str, Any]:
    """The libpod SpecGenerator for ``spec``; ``terminal`` and ``stdin`` say how it is run."""
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    for volume in spec.volumes:
        options = ["ro"] if volume.read_only else []
        if volume.is_bind:
            mounts.append(
                {
                    "type": "bind",
                    "source": volume.source,
                    "destination": volume.target,
                    "options": ["rbind", *options],
                }
            )
        else:
            # An empty name makes podman create an anonymous volume, removed with the container.
            volumes.append({"Name": volume.source or "", "Dest": volume.target, "Options": options})
    body: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "env": dict(spec.env),
        "labels": dict(spec.labels),
        "privileged": spec.privileged,
        "mounts": mounts,
        "volumes": volumes,
        "terminal": terminal,
        "stdin": stdin,
    }
    if spec.host_network:
        body["netns"] = {"nsmode": "host"}
    return body


UNCHECKED = (
    "the image has no health check, so the service counts as ready once it has kept running "
    "for a moment and the job may race it (podman build drops HEALTHCHECK unless --format "
    "docker: give the image one)"
)
"""Why a service without a health check is logged as ``service.unchecked`` (a warning)."""


def has_healthcheck(attrs: Mapping[str, Any]) -> bool:
    """Whether a container's inspect data names a health check (``NONE`` disables one)."""
    test = (attrs.get("Config") or {}).get("Healthcheck", {}) or {}
    command = test.get("Test") or []
    return bool(command) and command[0] != "NONE"


def whole_seconds(seconds: float) -> int:
    """A grace as the stop endpoint takes it: whole seconds, at least one."""
    return max(1, math.ceil(seconds))
