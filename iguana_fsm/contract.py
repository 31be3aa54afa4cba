"""The contract with installation containers, as the container each of them runs in.

Every container Iguana starts, a job's or a service's, is privileged, on the host network, sees
the host's ``/dev`` at ``/dev`` and the host's ``/iguana`` at ``/iguana``, has ``IGUANA=true`` in
its environment (over every other layer) and carries the label ``iguana.run=<run id>`` so that
leftovers of an interrupted boot can be found. This module is the one place that says so: the
engine translates the spec it builds and adds nothing. Changing it means changing the README's
section for container authors in the same change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from iguana_fsm.engine.base import RUN_LABEL, ContainerSpec
from iguana_fsm.workflow.model import Volume

IGUANA_MOUNT = "/iguana"
"""Where the host's /iguana is inside every container."""

DEVICES = "/dev"
"""The host's /dev, at the same place inside every container."""

CONTRACT_ENV: Mapping[str, str] = {"IGUANA": "true"}
"""Set in every container, over the workflow's and the kernel command line's values."""


def contract_volumes(iguana_dir: Path) -> tuple[Volume, ...]:
    """The bind mounts every container gets before its own volumes."""
    return (Volume(DEVICES, DEVICES), Volume(str(iguana_dir), IGUANA_MOUNT))


def run_labels(run_id: str) -> dict[str, str]:
    """The labels that tie a container or volume to the boot ``run_id``."""
    return {RUN_LABEL: run_id}


def container_spec(
    name: str,
    image: str,
    env: Mapping[str, str],
    volumes: tuple[Volume, ...],
    *,
    iguana_dir: Path,
    run_id: str,
) -> ContainerSpec:
    """The complete spec of a container Iguana starts: the workflow's ``env`` and ``volumes``
    inside the contract."""
    return ContainerSpec(
        name=name,
        image=image,
        env={**env, **CONTRACT_ENV},
        volumes=contract_volumes(iguana_dir) + volumes,
        labels=run_labels(run_id),
        privileged=True,
        host_network=True,
    )


def iguana_dir_of(spec: ContainerSpec) -> Path:
    """The host directory ``spec`` mounts at /iguana; ValueError for a spec outside the
    contract."""
    for volume in spec.volumes:
        if volume.target == IGUANA_MOUNT and volume.is_bind and volume.source is not None:
            return Path(volume.source)
    raise ValueError(f"container {spec.name} has no {IGUANA_MOUNT}")
