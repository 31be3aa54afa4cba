"""Run one job through a PodmanEngine of its own, as ``iguana`` would on a console.

``python -m tests.support.run_job_driver TOP IMAGE SINK [--interactive]``: a sandbox under TOP
(whose storage must hold IMAGE), the job's output lines appended to SINK, and a last line
``exit=CODE timed_out=BOOL`` on stdout (``error: MESSAGE`` and status 125 when the engine
fails). Tests run it under a pseudo-terminal or with a pipe.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iguana_fsm.contract import container_spec
from iguana_fsm.engine.podman import PodmanEngine
from iguana_fsm.errors import IguanaError
from iguana_fsm.paths import Paths


def main(argv: list[str] | None = None) -> int:
    """Run the job; the exit status is the job's exit code."""
    parser = argparse.ArgumentParser()
    parser.add_argument("top", type=Path)
    parser.add_argument("image")
    parser.add_argument("sink", type=Path)
    parser.add_argument("--interactive", action="store_true")
    args = parser.parse_args(argv)
    paths = Paths.for_sandbox(args.top)
    paths.iguana.mkdir(parents=True, exist_ok=True)
    engine = PodmanEngine(paths, "driver", log=_Quiet())
    engine.start()
    try:
        with args.sink.open("a", encoding="utf-8") as sink:

            def write(line: str) -> None:
                sink.write(line + "\n")
                sink.flush()

            spec = container_spec(
                "driver-job", args.image, {}, (), iguana_dir=paths.iguana, run_id="driver"
            )
            result = engine.run_job(spec, timeout=60, interactive=args.interactive, output=write)
    except IguanaError as error:
        sys.stdout.write(f"\nerror: {error}\n")
        return 125
    finally:
        engine.stop()
    sys.stdout.write(f"\nexit={result.exit_code} timed_out={result.timed_out}\n")
    return result.exit_code


class _Quiet:
    """A logger that drops events: the terminal shows only the job."""

    def __getattr__(self, _name: str) -> object:
        return lambda *_args, **_kwargs: None


if __name__ == "__main__":
    raise SystemExit(main())
