"""Structured logging: JSON lines to ``/iguana/log.jsonl`` (every field), short lines on the
console (``console.py`` chooses them), and one-line progress messages to ``/iguana/progress``.

Loggers are built with ``structlog.wrap_logger`` rather than global configuration, so two boots
(or a boot and its tests) never share an output by accident.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import IO, Any

import structlog

from iguana_fsm.console import ConsoleView, Mode

CONSOLE_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class TeeRenderer:
    """The last processor: every event as JSON to the log file, and to the console as
    ``console.ConsoleView`` shows it (quiet, normal) or every event in full (debug). Raises
    DropEvent as it has written everything."""

    def __init__(
        self,
        json_file: IO[str] | None,
        console: IO[str] | None,
        mode: Mode,
        on_failure: Callable[[OSError], None] | None = None,
    ) -> None:
        self._json_file = json_file
        self._on_failure = on_failure
        self._console = console
        self._view = ConsoleView(console, mode) if console is not None else None
        self._json = structlog.processors.JSONRenderer(sort_keys=True)
        # Padding given by position: structlog 22 (Debian 12) calls it pad_event, 23+ pad_event_to.
        self._readable = structlog.dev.ConsoleRenderer(24, colors=False)
        # a job's progress is followed in a thread of its own: one event at a time
        self._lock = threading.Lock()

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        with self._lock:
            self._write(logger, method, event)
        raise structlog.DropEvent

    def _write(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> None:
        if self._json_file is not None:
            self._write_json(str(self._json(logger, method, dict(event))) + "\n")
        if self._view is not None:
            if self._view.mode is Mode.DEBUG and event.get("event") != "boot.failed":
                # tracebacks are for the log file; the console gets the one-line event
                readable = {key: value for key, value in event.items() if key != "exception"}
                self._view.write_block([str(self._readable(logger, method, readable))])
            else:
                self._view.show(event)

    def _write_json(self, line: str) -> None:
        """Append to the log file; when it cannot be written (a full /iguana) say so once on the
        console, stop writing it and tell ``on_failure``: a log call never raises, so clean-up
        code that logs still runs; the session stops the boot at its next checkpoint (exit 8)."""
        assert self._json_file is not None
        try:
            self._json_file.write(line)
            self._json_file.flush()
        except OSError as error:
            broken, self._json_file = self._json_file, None
            with contextlib.suppress(OSError):
                broken.close()
            if self._view is not None:
                name = getattr(broken, "name", "the log file")
                self._view.write_block([f"iguana: {name}: cannot be written: {error.strerror}"])
            if self._on_failure is not None:
                self._on_failure(error)


def make_logger(
    log_file: Path | None,
    console: IO[str] | None,
    console_mode: Mode = Mode.NORMAL,
    on_failure: Callable[[OSError], None] | None = None,
    **context: Any,
) -> Any:
    """A bound logger writing to ``log_file`` (appended, created with its directory) and to
    ``console``; ``context`` is bound to every event (e.g. run_id). ``on_failure`` hears of
    the first write to ``log_file`` that failed (the file is not written after it)."""
    handle: IO[str] | None = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handle = log_file.open("a", encoding="utf-8")
    processors: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        TeeRenderer(handle, console, console_mode, on_failure),
    ]
    return structlog.wrap_logger(None, processors=processors).bind(**context)


class Progress:
    """Writes one-line messages to ``/iguana/progress``.

    When something (plymouth, a container) has made it a FIFO, a line is written without blocking
    and dropped when nobody reads; otherwise the file is a plain append-only log of messages.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, message: str) -> None:
        line = (message.replace("\n", " ").strip() + "\n").encode("utf-8")
        # a side channel that containers can break (make it a directory, fill the disk):
        # it must never stop the boot, and the log has every message anyway
        with contextlib.suppress(OSError):
            self._write(line)

    def _write(self, line: bytes) -> None:
        # never through a symbolic link (O_NOFOLLOW) nor into a hard link: a container may point
        # the name at a host file, which Iguana must not append to
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(self.path, flags | os.O_CLOEXEC | os.O_NOCTTY, 0o644)
        except OSError as error:
            if error.errno == errno.ENXIO:  # a FIFO with no reader: the message is for nobody
                return
            raise
        try:
            info = os.fstat(fd)
            if stat.S_ISFIFO(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink == 1):
                os.write(fd, line)
        except BlockingIOError:  # a FIFO whose reader does not keep up
            pass
        finally:
            os.close(fd)
