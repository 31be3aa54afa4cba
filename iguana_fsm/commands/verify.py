"""``iguana verify FILE``: a workflow and its images against the trust policy, without a boot."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from iguana_fsm.commands.options import add_target, paths_of
from iguana_fsm.errors import ExitCode


def add_parser(subparsers: Any) -> None:
    """Declare ``verify``."""
    parser = subparsers.add_parser(
        "verify",
        help="check a workflow and its images against the trust policy without running them",
        description=f"Exit codes: {ExitCode.OK:d} every image is trusted, {ExitCode.TRUST:d} "
        f"something is refused, {ExitCode.ENGINE:d} a registry could not be asked.",
    )
    add_target(parser)
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--cmdline", metavar="TEXT", help="kernel command line to apply")
    parser.add_argument(
        "--no-registry",
        action="store_true",
        help="check only the allow-list and digest rules; ask no registry for digests or "
        "signatures",
    )
    parser.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    """Print the report (``Precheck.report``); its exit code (``Precheck.exit_code``)."""
    from iguana_fsm.cmdline import parse_cmdline
    from iguana_fsm.trust.precheck import precheck

    config = parse_cmdline(args.cmdline or "")
    found = precheck(args.file, config, paths_of(args), online=not args.no_registry)
    sys.stdout.write(found.report())
    return found.exit_code
