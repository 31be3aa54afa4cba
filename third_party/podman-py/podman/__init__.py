"""Podman client module."""

from podman.client import PodmanClient, from_env
from podman.version import __version__

# isort: unique-list
__all__ = ['PodmanClient', '__version__', 'from_env']
