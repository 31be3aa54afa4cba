"""The progress protocol of installation containers: lines a running job appends to
``/iguana/progress``, read by Iguana while the job runs (docs/containers.md).

One report a line, UTF-8:

* ``42 copying files`` or ``42% copying files``: a percentage (0-100) and an optional message;
* ``3/7 installing packages``: step 3 of 7 (Agama's steps), shown as its percentage;
* any other text: a message alone.

Iguana shows each report on the console (``job.progress`` events, at most one line every few
seconds when the console is no terminal), keeps the last one in the job's checkpoint record
(``iguana status`` shows it), and hands it to plymouth when plymouth runs. Iguana's own
messages go to the same file between jobs, so the file also reads as the boot's progress log.
When something made the file a FIFO (plymouth, a container), Iguana reads nothing from it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iguana_fsm.console import fit
from iguana_fsm.record import JobRecord

LINE = re.compile(
    r"\s*(?:(?P<percent>\d{1,3}(?:\.\d+)?)\s*%?|(?P<step>\d+)\s*/\s*(?P<of>\d+))(?:\s+(?P<message>.*))?"
)
MESSAGE_MAX = 200
"""Characters of a message kept (a container's line is not the place for a novel)."""
PENDING_MAX = 4096
"""Bytes of an unfinished line kept; beyond that the line is cut."""


@dataclass(frozen=True)
class Report:
    """One progress line: a percentage (None: a message alone) and a message."""

    percent: float | None
    message: str

    def text(self) -> str:
        """``42% copying files``, as the checkpoint keeps it."""
        shown = f"{self.percent:g}%" if self.percent is not None else ""
        return " ".join(part for part in (shown, self.message) if part)


def parse(line: str) -> Report | None:
    """The report a line makes; None for a blank line. A percentage over 100 or a step beyond
    its count is a message, not a number."""
    text = "".join(char for char in line if char.isprintable()).strip()
    if not text:
        return None
    found = LINE.fullmatch(text)
    if found is not None:
        message = (found.group("message") or "").strip()[:MESSAGE_MAX]
        if found.group("percent") is not None:
            percent = float(found.group("percent"))
            if percent <= 100:
                return Report(percent, message)
        else:
            step, of = int(found.group("step")), int(found.group("of"))
            if of > 0 and step <= of:
                return Report(round(step * 100 / of, 1), message)
    return Report(None, text[:MESSAGE_MAX])


class Plymouth:
    """Passes reports on to plymouth, when its daemon answers ``plymouth --ping``.

    A report becomes one message, ``Iguana: JOB 42% MESSAGE`` (``plymouth display-message``):
    the text splash centres it, the details splash prints it as a line, graphical themes show
    it under their animation. The percentage goes into the message because no plymouth theme
    draws ``system-update --progress`` in boot mode (the daemon answers "failed to update
    splash"; two-step draws it only in its updates modes). Messages go out from a thread of
    their own, the newest replacing one not yet sent, so that a daemon that hangs never holds
    up the job's progress; one that does not answer within TIMEOUT seconds, or has quit, is not
    asked again.
    """

    TIMEOUT = 2.0
    """Seconds one plymouth command may take."""

    SOCKETS = Path("/proc/net/unix")
    """The kernel's table of unix sockets in our network namespace, where plymouthd's shows."""

    NAMES = ("@/org/freedesktop/plymouthd", "@/ply-boot-protocol")
    """plymouthd's abstract socket as the table shows it (``@`` for the leading NUL), today's
    name and the one older plymouths used: with neither listed no daemon runs, and ``find``
    runs no ``plymouth --ping`` (an exec before every job otherwise)."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.gone = False
        self._lock = threading.Lock()
        self._pending: str | None = None
        self._sender: threading.Thread | None = None

    @classmethod
    def find(cls) -> Plymouth | None:
        """The running plymouth, or None."""
        binary = shutil.which("plymouth")
        if binary is None or not cls.listening():
            return None
        found = cls(binary)
        return found if found._run("--ping") else None

    @classmethod
    def listening(cls) -> bool:
        """Whether a socket of plymouthd's is listed (or the table cannot be read)."""
        try:
            with cls.SOCKETS.open("rb") as table:
                names = tuple(name.encode() for name in cls.NAMES)
                return any(line.split()[-1].startswith(names) for line in table if line.strip())
        except OSError:
            return True

    def show(self, job: str, report: Report) -> None:
        """Send ``report`` of ``job`` as plymouth's message (in the background)."""
        shown = f" {report.percent:g}%" if report.percent is not None else ""
        text = fit(f"Iguana: {job}{shown} {report.message}".rstrip())
        with self._lock:
            if self.gone:
                return
            self._pending = text
            if self._sender is None:
                self._sender = threading.Thread(target=self._send, name="plymouth", daemon=True)
                self._sender.start()

    def flush(self) -> None:
        """Wait for the messages under way (at most TIMEOUT seconds each)."""
        sender = self._sender
        if sender is not None:
            sender.join(self.TIMEOUT * 2 + 1)

    def _send(self) -> None:
        while True:
            with self._lock:
                text, self._pending = self._pending, None
                if text is None or self.gone:
                    self._sender = None
                    return
            if not self._run("display-message", f"--text={text}"):
                with self._lock:
                    self.gone, self._pending, self._sender = True, None, None
                return

    def _run(self, *args: str) -> bool:
        """Whether ``plymouth ARGS`` succeeded within TIMEOUT seconds."""
        try:
            done = subprocess.run(
                [self.binary, *args],
                timeout=self.TIMEOUT,
                check=False,
                capture_output=True,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0


def _own_file(info: os.stat_result) -> bool:
    """A regular file with one link: nothing a container made point elsewhere."""
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def _read_own(path: Path, offset: int, size: int) -> bytes | None:
    """``size`` bytes of ``path`` from ``offset``, when it is still a file of its own (checked
    on the descriptor read, so a swap after the size was taken changes nothing); else None."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        return os.pread(fd, size, offset) if _own_file(os.fstat(fd)) else None
    except OSError:
        return None
    finally:
        os.close(fd)


class JobProgress:
    """Follows ``path`` while a job runs (a thread, from ``with`` to its end): each report is
    logged as ``job.progress``, kept in ``record`` and saved at most every ``save_every``
    seconds; with no report for ``heartbeat`` seconds, a line with the elapsed time."""

    def __init__(
        self,
        path: Path,
        job: str,
        place: dict[str, int],
        record: JobRecord,
        log: Any,
        save: Callable[[], None],
        *,
        interval: float = 0.5,
        heartbeat: float = 60.0,
        save_every: float = 5.0,
        plymouth: Plymouth | None = None,
    ) -> None:
        self.path, self.job, self.place, self.record = path, job, place, record
        self.log, self.save = log, save
        self.interval, self.heartbeat, self.save_every = interval, heartbeat, save_every
        self.plymouth = plymouth
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="job-progress", daemon=True)
        self._offset = self._size()
        self._pending = b""

    def __enter__(self) -> JobProgress:
        self._started = self._last_shown = self._last_saved = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        # what the job wrote just before it ended
        self._read()
        if self.plymouth is not None:
            self.plymouth.flush()

    def _size(self) -> int | None:
        """The file's size, or None when it is not a regular file of its own (a FIFO is someone
        else's; a symbolic or hard link may lead to a host file, whose lines must not reach the
        log)."""
        try:
            info = os.lstat(self.path)
        except OSError:
            return 0
        return info.st_size if _own_file(info) else None

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            self._read()
            now = time.monotonic()
            if now - self._last_shown >= self.heartbeat:
                self._emit(Report(None, "running"), now)

    def _read(self) -> None:
        size = self._size()
        if size is None or self._offset is None:
            self._offset = size
            return
        if size < self._offset:  # replaced or truncated: read it from its start
            self._offset, self._pending = 0, b""
        if size == self._offset:
            return
        data = _read_own(self.path, self._offset, size - self._offset)
        if data is None:
            return
        self._offset += len(data)
        *lines, self._pending = (self._pending + data).split(b"\n")
        if len(self._pending) > PENDING_MAX:
            lines.append(self._pending[:PENDING_MAX])
            self._pending = b""
        for line in lines:
            report = parse(line.decode("utf-8", errors="replace"))
            if report is not None:
                self._emit(report, time.monotonic())

    def _emit(self, report: Report, now: float) -> None:
        self._last_shown = now
        elapsed = round(now - self._started, 1)
        if report.message != "running" or report.percent is not None:
            self.record.progress = report.text()
            self.record.percent = report.percent
        self.log.info(
            "job.progress",
            job=self.job,
            percent=report.percent,
            message=report.message,
            elapsed=elapsed,
            **self.place,
        )
        if self.plymouth is not None:
            self.plymouth.show(self.job, report)
        if now - self._last_saved >= self.save_every:
            self._last_saved = now
            with contextlib.suppress(Exception):
                self.save()
