"""``iguana run``: the boot, the initrd's main job (``--dry-run``: the plan only)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from iguana_fsm.commands.options import add_boot_options, paths_of


def add_parser(subparsers: Any) -> None:
    """Declare ``run``."""
    parser = subparsers.add_parser("run", help="run the boot: the initrd's main job")
    add_boot_options(parser)
    parser.add_argument(
        "--workflow", metavar="FILE|URL", help="the workflow (rd.iguana.control_url)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, touch nothing")
    parser.add_argument(
        "--no-registry",
        action="store_true",
        help="with --dry-run: ask no registry for image sizes (no pull plan)",
    )
    parser.add_argument("--fresh", action="store_true", help="start over an unfinished boot")
    parser.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the boot (or print its plan); the boot's exit code."""
    if args.dry_run:
        from iguana_fsm.dryrun import dry_run

        return dry_run(
            paths_of(args),
            args.cmdline,
            args.workflow,
            sys.stdout,
            registry=not args.no_registry,
        )
    from iguana_fsm.commands.boot import run

    return run(args, args.workflow)
