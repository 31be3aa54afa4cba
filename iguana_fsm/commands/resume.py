"""``iguana resume``: continue a failed or interrupted boot from its checkpoint."""

from __future__ import annotations

import argparse
from typing import Any

from iguana_fsm.commands.options import add_boot_options


def add_parser(subparsers: Any) -> None:
    """Declare ``resume``."""
    parser = subparsers.add_parser(
        "resume", help="continue a failed or interrupted boot from its checkpoint"
    )
    add_boot_options(parser)
    parser.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    """Resume the boot; its exit code."""
    from iguana_fsm.commands.boot import resume

    return resume(args)
