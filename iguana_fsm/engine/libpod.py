"""The libpod SpecGenerator (the body of ``POST /libpod/containers/create``) for a ContainerSpec.

podman-py cannot express anonymous volumes, so the body is written here.
"""

from __future__ import annotations

from typing import Any

from iguana_fsm.engine.base import RUN_LABEL, ContainerSpec


def container_body(
    spec: ContainerSpec, run_id: str, *, terminal: bool = False, stdin: bool = False
) -> dict[str, Any]:
    """The libpod SpecGenerator for ``spec``: privileged, host network, /dev, /iguana, labels."""
    mounts: list[dict[str, Any]] = [
        {"type": "bind", "source": "/dev", "destination": "/dev", "options": ["rbind"]},
        {
            "type": "bind",
            "source": str(spec.iguana_dir),
            "destination": "/iguana",
            "options": ["rbind"],
        },
    ]
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
    return {
        "name": spec.name,
        "image": spec.image,
        "env": dict(spec.env),
        "labels": {**spec.labels, RUN_LABEL: run_id},
        "privileged": True,
        "netns": {"nsmode": "host"},
        "mounts": mounts,
        "volumes": volumes,
        "terminal": terminal,
        "stdin": stdin,
    }
