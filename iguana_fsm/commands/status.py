"""``iguana status``: where the boot is (state, jobs, last error), from its checkpoint."""

from __future__ import annotations

import argparse
from typing import Any

from iguana_fsm.commands.options import add_target, paths_of
from iguana_fsm.errors import ExitCode


def add_parser(subparsers: Any) -> None:
    """Declare ``status``."""
    parser = subparsers.add_parser(
        "status",
        help="where the boot is: state, jobs, last error",
        description=f"Exit codes: {ExitCode.OK:d} the boot reached its ending, "
        f"{ExitCode.RUNNING:d} in progress, {ExitCode.INTERRUPTED:d} interrupted (resume it), "
        f"{ExitCode.LOCATE:d}-{ExitCode.HANDOFF:d} the failed boot's own code, "
        f"{ExitCode.CHECKPOINT:d} no readable checkpoint.",
    )
    add_target(parser)
    parser.add_argument("--json", action="store_true", help="print the checkpoint as JSON")
    parser.add_argument("--wait", action="store_true", help="block until the boot ends")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="limit for --wait")
    parser.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    """Print where the boot is; the exit code that says it."""
    from iguana_fsm import status
    from iguana_fsm.bootlock import boot_running
    from iguana_fsm.checkpoint import CheckpointStore

    paths = paths_of(args)
    store = CheckpointStore(paths.state)
    if args.wait:
        record = status.wait(paths, store.load, lambda: boot_running(paths), args.timeout)
    else:
        record = store.load()
    running = boot_running(paths)
    text = status.as_json(record, running) if args.json else status.describe(record, running)
    print(text)
    return status.exit_code(record, running)
