"""A job on our terminal: ``podman start --attach --interactive`` on a pseudo-terminal of ours.

The podman client does the terminal work (raw mode, resizes); this module gives it a pty that
is its controlling terminal and proxies bytes between it and our own terminal (stdin in raw mode
meanwhile, like ``script``), copying the output into the job's lines.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import subprocess
import termios
import threading
import tty
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from iguana_fsm.engine.attach import write_all
from iguana_fsm.engine.output import OutputLines


def copy_window_size(source: int, target: int) -> None:
    """Give the terminal ``target`` the window size of ``source`` (quietly, if it has none)."""
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)


def run_on_pty(
    command: list[str], env: Mapping[str, str], lines: OutputLines, arm: Callable[[], None]
) -> None:
    """Run ``command`` on a new pseudo-terminal and proxy bytes between it and our own
    terminal (stdin in raw mode meanwhile), copying the output into ``lines``. ``arm`` is
    called once the command runs (it starts the job's timer)."""
    master, slave = os.openpty()
    copy_window_size(0, slave)

    def controlling_terminal() -> None:
        # The pty becomes the child's terminal, so window size changes reach it as SIGWINCH.
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        process = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(env),
            start_new_session=True,
            # Only ioctl runs in the child; the job timer thread is started after this spawn.
            preexec_fn=controlling_terminal,
        )
    finally:
        os.close(slave)
    arm()
    saved = termios.tcgetattr(0)
    previous_handler: Any = None
    if threading.current_thread() is threading.main_thread():

        def resize(_signum: int, _frame: FrameType | None) -> None:
            copy_window_size(0, master)

        previous_handler = signal.signal(signal.SIGWINCH, resize)
    try:
        tty.setraw(0)
        proxy(master, lines)
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
        if previous_handler is not None:
            signal.signal(signal.SIGWINCH, previous_handler)
        os.close(master)
        process.wait()


def proxy(master: int, lines: OutputLines) -> None:
    """Copy our stdin to ``master`` and ``master`` to our stdout until the pty closes."""
    sources = [0, master]
    while True:
        try:
            readable, _, _ = select.select(sources, [], [])
        except InterruptedError:
            continue
        if 0 in readable:
            data = os.read(0, 4096)
            if data:
                write_all(master, data)
            else:
                sources.remove(0)
        if master in readable:
            try:
                data = os.read(master, 65536)
            except OSError as error:
                if error.errno == errno.EIO:
                    return
                raise
            if not data:
                return
            write_all(1, data)
            lines.feed(data)
