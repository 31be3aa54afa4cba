"""``iguana validate FILE...``: every problem of workflow files, or their plans."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from iguana_fsm.commands.options import add_format


def add_parser(subparsers: Any) -> None:
    """Declare ``validate``."""
    parser = subparsers.add_parser(
        "validate", help="report every problem of workflow files (exit 0 valid, 2 invalid)"
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    add_format(parser, "the problems")
    parser.add_argument("--explain", action="store_true", help="print the resolved plan")
    parser.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    """Check the files; 0 when all are valid, 2 otherwise."""
    from iguana_fsm.workflow.commands import cmd_validate

    return cmd_validate(args.files, args.format, args.explain, sys.stdout)
