"""The engine's start of the image device's registry mirror (``engine/mirror.py``): the helper
runs only when ``images-setup start`` left the registry's configuration, once per process, and
its failure is an EngineError in its own words."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import structlog

from iguana_fsm.engine.mirror import CONFIG, Mirror
from iguana_fsm.errors import EngineError


def helper(tmp_path: Path, body: str) -> Path:
    """An executable stand-in for images-setup that appends its arguments to ``calls``."""
    script = tmp_path / "images-setup"
    script.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls"}\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def calls(tmp_path: Path) -> list[str]:
    """The helper's argument lines so far."""
    path = tmp_path / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_without_the_configuration_nothing_runs(tmp_path: Path) -> None:
    """A run directory without the registry's configuration (no registry on the device, a
    sandbox) never runs the helper."""
    mirror = Mirror(tmp_path, structlog.get_logger(), helper(tmp_path, "exit 0"))
    mirror.ensure()
    assert calls(tmp_path) == []


def test_the_mirror_is_served_once(tmp_path: Path) -> None:
    """With the configuration the helper's ``serve`` runs at the first ``ensure`` only."""
    (tmp_path / CONFIG).write_text("version: 0.1\n")
    mirror = Mirror(tmp_path, structlog.get_logger(), helper(tmp_path, "exit 0"))
    mirror.ensure()
    mirror.ensure()
    assert calls(tmp_path) == ["serve"]


def test_a_mirror_that_does_not_start_is_an_engine_error(tmp_path: Path) -> None:
    """The helper's failure raises EngineError with its last words, and the next ``ensure``
    tries again."""
    (tmp_path / CONFIG).write_text("version: 0.1\n")
    script = helper(tmp_path, 'echo "iguana: the image registry did not start" >&2; exit 1')
    mirror = Mirror(tmp_path, structlog.get_logger(), script)
    with pytest.raises(EngineError, match="did not start: iguana: the image registry did not"):
        mirror.ensure()
    with pytest.raises(EngineError):
        mirror.ensure()
    assert calls(tmp_path) == ["serve", "serve"]


def test_a_missing_helper_is_an_engine_error(tmp_path: Path) -> None:
    """A configuration without its helper is an EngineError naming the helper."""
    (tmp_path / CONFIG).write_text("version: 0.1\n")
    mirror = Mirror(tmp_path, structlog.get_logger(), tmp_path / "absent")
    with pytest.raises(EngineError, match="absent"):
        mirror.ensure()
