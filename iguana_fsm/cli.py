"""The ``iguana`` command. Each command is a pair ``_add_X(subparsers)`` / ``_cmd_X(args)``;
``main`` turns every expected error into one line on stderr and its exit code."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from iguana_fsm import __version__
from iguana_fsm.checkpoint import CheckpointStore
from iguana_fsm.cmdline import BootConfig
from iguana_fsm.engine.base import Engine
from iguana_fsm.errors import ExitCode, IguanaError, WorkflowInvalid
from iguana_fsm.host import Host, SandboxHost
from iguana_fsm.paths import Paths


def _paths(args: argparse.Namespace) -> Paths:
    sandbox: str | None = getattr(args, "sandbox", None)
    return Paths.for_sandbox(Path(sandbox)) if sandbox else Paths.initrd()


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox",
        metavar="DIR",
        help="keep /iguana, the new root and all state under DIR; record the hand-off "
        "instead of carrying it out",
    )


def _add_boot_options(parser: argparse.ArgumentParser) -> None:
    _add_target(parser)
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


def make_engine(paths: Paths, run_id: str, config: BootConfig, log: Any) -> Engine:
    """The podman engine, with the trust policy in its HOME (the session starts it on use)."""
    from iguana_fsm.engine.podman import PodmanEngine
    from iguana_fsm.trust.policy import prepare_engine_env

    overlay = prepare_engine_env(config, paths)
    return PodmanEngine(paths, run_id, env_overlay=overlay, log=log)


def make_host(paths: Paths) -> Host:
    """The sandbox host records the ending; the initrd host carries it out."""
    if paths.sandbox:
        return SandboxHost()
    from iguana_fsm.host import InitrdHost

    return InitrdHost()


def _session(args: argparse.Namespace, workflow: str | None = None) -> Any:
    from iguana_fsm.session import Options, Session
    from iguana_fsm.stages import default_stages

    options = Options(
        paths=_paths(args),
        cmdline=args.cmdline,
        workflow=workflow,
        interactive=not args.batch,
        fresh=getattr(args, "fresh", False),
    )
    return Session(options, default_stages(), make_engine, make_host)


def _add_run(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run the boot: the initrd's main job")
    _add_boot_options(parser)
    parser.add_argument(
        "--workflow", metavar="FILE|URL", help="the workflow (rd.iguana.control_url)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, touch nothing")
    parser.add_argument("--fresh", action="store_true", help="start over an unfinished boot")
    parser.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    if args.dry_run:
        from iguana_fsm.dryrun import dry_run

        return dry_run(_paths(args), args.cmdline, args.workflow, sys.stdout)
    return int(_session(args, args.workflow).run())


def _add_resume(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "resume", help="continue a failed or interrupted boot from its checkpoint"
    )
    _add_boot_options(parser)
    parser.set_defaults(func=_cmd_resume)


def _cmd_resume(args: argparse.Namespace) -> int:
    return int(_session(args).resume())


def _add_status(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="where the boot is: state, jobs, last error",
        description="Exit codes: 0 the boot reached its ending, 11 in progress, 12 interrupted "
        "(resume it), 3-10 the failed boot's own code, 8 no readable checkpoint.",
    )
    _add_target(parser)
    parser.add_argument("--json", action="store_true", help="print the checkpoint as JSON")
    parser.add_argument("--wait", action="store_true", help="block until the boot ends")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="limit for --wait")
    parser.set_defaults(func=_cmd_status)


def _cmd_status(args: argparse.Namespace) -> int:
    from iguana_fsm import status
    from iguana_fsm.session import boot_running

    paths = _paths(args)
    store = CheckpointStore(paths.state)
    if args.wait:
        record = status.wait(paths, store.load, lambda: boot_running(paths), args.timeout)
    else:
        record = store.load()
    running = boot_running(paths)
    text = status.as_json(record, running) if args.json else status.describe(record, running)
    print(text)
    return status.exit_code(record, running)


def _add_diagram(subparsers: Any) -> None:
    parser = subparsers.add_parser("diagram", help="render the boot state machine")
    parser.add_argument("--format", choices=["mermaid", "dot"], default="mermaid")
    parser.add_argument(
        "--output", metavar="DIR", help="write every format into DIR (e.g. diagrams/)"
    )
    parser.set_defaults(func=_cmd_diagram)


def _cmd_diagram(args: argparse.Namespace) -> int:
    from iguana_fsm import diagram

    if args.output:
        for path in diagram.write_all(Path(args.output)):
            print(path)
    else:
        sys.stdout.write(diagram.render(args.format))
    return 0


def _add_validate(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate", help="report every problem of workflow files (exit 0 valid, 2 invalid)"
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--explain", action="store_true", help="print the resolved plan")
    parser.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from iguana_fsm.workflow.commands import cmd_validate

    return cmd_validate(args.files, args.format, args.explain, sys.stdout)


def _add_schema(subparsers: Any) -> None:
    parser = subparsers.add_parser("schema", help="print the workflow JSON Schema")
    parser.set_defaults(func=_cmd_schema)


def _cmd_schema(args: argparse.Namespace) -> int:
    from iguana_fsm.workflow.commands import cmd_schema

    return cmd_schema(sys.stdout)


def _add_verify(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check a workflow and its images against the trust policy without running them",
        description="Exit codes: 0 every image is trusted, 4 something is refused, 5 a registry "
        "could not be asked.",
    )
    _add_target(parser)
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--cmdline", metavar="TEXT", help="kernel command line to apply")
    parser.add_argument(
        "--no-registry",
        action="store_true",
        help="check only the allow-list and digest rules; ask no registry for digests or "
        "signatures",
    )
    parser.set_defaults(func=_cmd_verify)


def _cmd_verify(args: argparse.Namespace) -> int:
    from iguana_fsm.cmdline import parse_cmdline
    from iguana_fsm.trust.report import cmd_verify

    config = parse_cmdline(args.cmdline or "")
    return int(cmd_verify(args.file, config, _paths(args), sys.stdout, online=not args.no_registry))


def build_parser() -> argparse.ArgumentParser:
    """The whole command line of ``iguana``."""
    codes = "\n".join(f"  {code.value:>3}  {code.meaning}" for code in ExitCode)
    parser = argparse.ArgumentParser(
        prog="iguana",
        description="Boot a machine through installation containers.",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"iguana {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_run,
        _add_status,
        _add_resume,
        _add_validate,
        _add_verify,
        _add_schema,
        _add_diagram,
    ):
        add(subparsers)
    return parser


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so that the podman service is stopped on the way out.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run one ``iguana`` command; the exit code."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except WorkflowInvalid as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return error.exit_code
    except IguanaError as error:
        print(f"iguana: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("iguana: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: one line here, the traceback in a file it names
        where = _crash_file()
        print(
            f"iguana: internal error: {type(error).__name__}: {error} (traceback: {where})",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


def _crash_file() -> str:
    """Write the current traceback to a new file; its path (or why there is none)."""
    try:
        fd, path = tempfile.mkstemp(prefix="iguana-crash-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            traceback.print_exc(file=handle)
    except OSError as error:
        return f"not written: {error.strerror}"
    return path
