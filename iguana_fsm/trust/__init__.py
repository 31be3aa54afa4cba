"""Trust: fetch the workflow safely and verify it, and let only trusted images run.

``fetcher`` reads a workflow over http(s) (TLS verified, retries, deadline) or from a file;
``signature`` checks a sha256 pin and a gpgv detached signature; ``source`` combines them for one
workflow; ``policy`` holds the image rules and writes the podman trust configuration;
``report`` is ``iguana verify``.
"""
