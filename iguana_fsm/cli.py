"""The ``iguana`` command: the parser built from the verbs in ``iguana_fsm/commands/`` (one
module a verb), and ``main``, which turns every expected error into one line on stderr and its
exit code."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Iterable
from types import FrameType
from typing import Any, TextIO, cast

from iguana_fsm import __version__
from iguana_fsm.errors import ExitCode, IguanaError, WorkflowInvalid

VERBS = ("run", "status", "logs", "resume", "validate", "verify", "schema", "diagram")
"""The verbs in the order ``iguana --help`` lists them; each is declared by the module of its
name in ``iguana_fsm.commands``, imported when its parser is built."""


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The whole command line of ``iguana``; with ``verb``, only that verb below the top level:
    ``iguana status`` parses its arguments without importing the other seven verbs' modules
    and building their parsers, which took most of a rescue-shell verb's own time (issue 17).
    The verb's parser, its help and its errors are the same either way."""
    codes = "\n".join(f"  {code.value:>3}  {code.meaning}" for code in ExitCode)
    parser = argparse.ArgumentParser(
        prog="iguana",
        description="Boot a machine through installation containers.",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"iguana {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in VERBS if verb is None else (verb,):
        importlib.import_module(f"iguana_fsm.commands.{name}").add_parser(subparsers)
    return parser


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so that the podman service is stopped on the way out.
    raise SystemExit(128 + signum)


class _QuietPipe:
    """Our stdout, which ends quietly when its reader is gone (``iguana status | head -1``):
    from the first EPIPE on, output goes to /dev/null and the verb ends as it would have."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write, unless the reader is gone."""
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._reader_gone()
            return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        """Write each line, unless the reader is gone."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush, unless the reader is gone."""
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        # What is still buffered, and all that follows, goes to /dev/null from now on.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)
        with contextlib.suppress(BrokenPipeError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    """Run one ``iguana`` command; the exit code. A reader of our stdout that goes away early
    is a normal end, not an error."""
    stdout = sys.stdout
    # Started with stdout closed (``>&-``): what would be printed goes nowhere.
    target = stdout if stdout is not None else open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    sys.stdout = cast(TextIO, _QuietPipe(target))
    try:
        return _run(argv)
    finally:
        sys.stdout.flush()
        sys.stdout = stdout
        if target is not stdout:
            target.close()


def _run(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # the verb named first gets its parser alone; anything else (``--help``, ``--version``, a
    # name that is no verb) the whole command line, which lists the verbs
    verb = argv[0] if argv and argv[0] in VERBS else None
    args = build_parser(verb).parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.handle(args))
    except WorkflowInvalid as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return error.exit_code
    except IguanaError as error:
        print(f"iguana: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("iguana: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: one line here, the traceback in a file it names
        where = _crash_file()
        print(
            f"iguana: internal error: {type(error).__name__}: {error} (traceback: {where})",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


def _crash_file() -> str:
    """Write the current traceback to a new file; its path (or why there is none)."""
    import tempfile  # only a crash needs them: every verb's start-up stays lighter
    import traceback

    try:
        fd, path = tempfile.mkstemp(prefix="iguana-crash-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            traceback.print_exc(file=handle)
    except OSError as error:
        return f"not written: {error.strerror}"
    return path
