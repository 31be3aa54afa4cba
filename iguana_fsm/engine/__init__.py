"""Container engines behind one small contract; only engine/podman.py imports podman."""
