"""Flags that several verbs share, and the Paths they select."""

from __future__ import annotations

import argparse
from pathlib import Path

from iguana_fsm.errors import UsageError
from iguana_fsm.paths import Paths

INITRD_RELEASE = Path("/etc/initrd-release")
"""What makes a system an initrd (systemd's and dracut's convention; Ignition's units check it)."""


def paths_of(args: argparse.Namespace) -> Paths:
    """The initrd's paths, or all of them under ``--sandbox DIR``."""
    sandbox: str | None = getattr(args, "sandbox", None)
    return Paths.for_sandbox(Path(sandbox)) if sandbox else Paths.initrd()


def add_target(parser: argparse.ArgumentParser) -> None:
    """``--sandbox DIR``."""
    parser.add_argument(
        "--sandbox",
        metavar="DIR",
        help="keep /iguana, the new root and all state under DIR; record the hand-off "
        "instead of carrying it out",
    )


def add_boot_options(parser: argparse.ArgumentParser) -> None:
    """``--sandbox``, ``--cmdline`` and ``--batch``: what a boot (run, resume) takes."""
    add_target(parser)
    parser.add_argument(
        "--cmdline",
        metavar="TEXT",
        help="kernel command line to use instead of /proc/cmdline (the sandbox default is empty)",
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="do not attach job containers to the console",
    )
    parser.add_argument(
        "--not-in-initrd",
        action="store_true",
        help=f"without --sandbox, boot even though {INITRD_RELEASE} does not exist: run "
        "privileged containers on this machine's /dev, mount at /sysroot and switch root, kexec "
        "or reboot it (refused by default outside an initrd)",
    )


def check_initrd(args: argparse.Namespace, release: Path = INITRD_RELEASE) -> None:
    """A real boot (no ``--sandbox``) only in an initrd, unless ``--not-in-initrd`` says so:
    UsageError before anything is touched."""
    if getattr(args, "sandbox", None) or getattr(args, "not_in_initrd", False):
        return
    if not release.exists():
        raise UsageError(
            f"not in an initrd ({release} does not exist): a boot here would run privileged "
            "containers on this machine's /dev and reboot it; use --sandbox DIR to try a "
            "workflow, or --not-in-initrd to boot this machine anyway"
        )


def add_format(parser: argparse.ArgumentParser, what: str) -> None:
    """``--format text|json`` and ``--json``, its alias (``cloud-init status --format json``
    and ``journalctl -o json`` are what operators type)."""
    parser.add_argument(
        "--format", choices=["text", "json"], default="text", help=f"{what}: text or JSON"
    )
    parser.add_argument(
        "--json", dest="format", action="store_const", const="json", help="--format json"
    )
