"""Helpers shared by the integration and end-to-end tests: a private podman, tiny offline
busybox images, and a local registry on 127.0.0.1. Plain functions and classes; the pytest
fixtures that wrap them live in tests/integration/conftest.py."""
