"""``iguana schema``: the workflow JSON Schema."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Declare ``schema``."""
    parser = subparsers.add_parser("schema", help="print the workflow JSON Schema")
    parser.set_defaults(handle=handle)


def handle(args: argparse.Namespace) -> int:
    """Print the schema."""
    # the schema module alone: the validator and YAML are not needed to print it
    from iguana_fsm.workflow.schema import render_schema

    sys.stdout.write(render_schema())
    return 0
