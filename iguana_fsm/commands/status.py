"""``iguana status``: where the boot is (state, jobs, last error), from its checkpoint."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from iguana_fsm.commands.options import add_format, add_target, paths_of
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
    add_format(parser, "the status (JSON: the checkpoint and cloud-init's status fields)")
    parser.add_argument("--wait", action="store_true", help="block until the boot ends")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="limit for --wait")
    parser.add_argument(
        "--timings", action="store_true", help="also where the time went: states, jobs, pulls"
    )
    parser.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    """Print where the boot is; the exit code that says it. A whole snapshot is read as JSON
    alone; the record model (the checkpoint store, the journal, migration, validation) loads
    only when the checkpoint needs it or ``--timings`` asks for it (see ``iguana_fsm.status``)."""
    from iguana_fsm import status
    from iguana_fsm.bootlock import boot_running

    paths = paths_of(args)
    record = None if args.wait or args.timings else status.snapshot(paths)
    full = None  # the record model, when it was loaded
    if record is None:
        from iguana_fsm.checkpoint import CheckpointStore

        store = CheckpointStore(paths.state)
        if args.wait:

            def load() -> dict[str, Any]:
                return store.load().to_json()

            record = status.wait(paths, load, lambda: boot_running(paths), args.timeout)
        elif not store.exists():
            # before any boot: the status of nothing, in the form asked for, and no checkpoint
            print(status.not_started(paths, args.format == "json"))
            print(
                f"iguana: {paths.state}: no checkpoint: no boot has started here", file=sys.stderr
            )
            return ExitCode.CHECKPOINT
        else:
            full = store.load()
            record = full.to_json()
    running = boot_running(paths)
    if args.format == "json":  # the JSON form carries the timings already
        print(status.as_json(record, running))
    else:
        print(status.describe(record, running, str(paths.state)))
        if args.timings:
            from iguana_fsm import breakdown
            from iguana_fsm.checkpoint import CheckpointStore

            print(breakdown.describe(full or CheckpointStore(paths.state).load()))
    return status.exit_code(record, running)
