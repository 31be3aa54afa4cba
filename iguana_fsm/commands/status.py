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
        f"{ExitCode.CHECKPOINT:d} no readable checkpoint (or one of a newer Iguana: what this "
        "one knows of it is shown).",
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
    """Print where the boot is; the exit code that says it. The checkpoint is read by
    ``CheckpointStore.load``, the one reader of it (see ``iguana_fsm.status``)."""
    from iguana_fsm import status
    from iguana_fsm.bootlock import boot_running
    from iguana_fsm.checkpoint import SCHEMA_VERSION, CheckpointStore, newer_message

    paths = paths_of(args)
    store = CheckpointStore(paths.state)
    if args.wait:
        saved = status.wait(
            paths, lambda: store.load(newer_ok=True), lambda: boot_running(paths), args.timeout
        )
    elif not store.exists():
        # before any boot: the status of nothing, in the form asked for, and no checkpoint
        print(status.not_started(paths, args.format == "json"))
        print(f"iguana: {paths.state}: no checkpoint: no boot has started here", file=sys.stderr)
        return ExitCode.CHECKPOINT
    else:
        saved = store.load(newer_ok=True)
    record = saved.to_json()
    running = boot_running(paths)
    if args.format == "json":  # the JSON form carries the timings already
        print(status.as_json(record, running))
    else:
        print(status.describe(record, running, str(paths.state)))
        if args.timings:
            from iguana_fsm import breakdown

            print(breakdown.describe(saved))
    if saved.schema > SCHEMA_VERSION:
        # shown as far as this version knows it; the exit code says it was not all read
        print(f"iguana: {newer_message(str(paths.state), saved.schema)}", file=sys.stderr)
        return ExitCode.CHECKPOINT
    return status.exit_code(record, running)
