"""``iguana diagram``: the boot state machine as Mermaid or Graphviz dot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Declare ``diagram``."""
    parser = subparsers.add_parser("diagram", help="render the boot state machine")
    parser.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    parser.add_argument(
        "--output", metavar="DIR", help="write every format into DIR (e.g. diagrams/)"
    )
    parser.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    """Print the diagram, or write every format into ``--output``."""
    from iguana_fsm import diagram

    if args.output:
        for path in diagram.write_all(Path(args.output)):
            print(path)
    else:
        sys.stdout.write(diagram.render(args.format))
    return 0
