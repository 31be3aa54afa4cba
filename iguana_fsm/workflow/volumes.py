"""Volume entries (``name:/path``, ``/host:/path``, ``/path``, each with ``:ro``/``:rw``).

A target is compared the way podman compares mount destinations: after cleaning it as Go's
``filepath.Clean`` does (``/data/``, ``//data`` and ``/data/.`` are all ``/data``), so two
volumes that podman would refuse as a duplicate destination are refused here first.
"""

from __future__ import annotations

import posixpath
import re

from iguana_fsm.workflow import grammar
from iguana_fsm.workflow.model import Volume

_VOLUME_NAME = re.compile(grammar.VOLUME_NAME)


def clean_target(target: str) -> str:
    """``target`` as podman compares it: no repeated or trailing slash, no ``.`` or ``..``."""
    return posixpath.normpath("/" + target.lstrip("/"))


def parse_volume(text: str) -> Volume | str:
    """A volume from ``name:/path``, ``/host:/path`` or ``/path`` (+ ``:ro``/``:rw``), or why not.

    The target cannot be one Iguana mounts itself (``grammar.RESERVED_TARGETS``). Only the text
    is checked here; podman checks that a host path exists when the job starts.
    """
    parts = text.split(":")
    if "" in parts:
        return "a part between ':' is empty"
    read_only = False
    if len(parts) > 1 and parts[-1] in grammar.VOLUME_MODES:
        read_only = parts.pop() == "ro"
    elif len(parts) == 3:
        return f"mode {parts[2]!r} must be ro or rw"
    if len(parts) > 2:
        return "expected SOURCE:TARGET[:ro|rw] with at most three parts"
    target = parts[-1]
    if not target.startswith("/"):
        return f"target {target!r} must be an absolute path"
    reserved = grammar.RESERVED_TARGETS.get(clean_target(target))
    if reserved is not None:
        return reserved
    source = parts[0] if len(parts) == 2 else None
    if source is not None and not source.startswith("/") and not _VOLUME_NAME.fullmatch(source):
        return f"source {source!r} must be an absolute host path or a volume name"
    return Volume(source=source, target=target, read_only=read_only)
