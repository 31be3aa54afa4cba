"""How the mountlist check grows: ``mountlist.parse`` of a list of N mounts and of 10*N, in the
same run. A linear check prints a ratio near 10 (the check before was quadratic: near 100, and
22 s for 10,000 lines). Also prints how long the refusal of a 10,000-line file by its bounds
takes, against the parse of a list at the bound (1,024 lines).

``python bench/bench_mountlist.py [--lines N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from iguana_fsm import mountlist
from iguana_fsm.contract_files import MOUNTLIST, Refused


def text(lines: int) -> str:
    """A valid mountlist of ``lines`` mounts: the root, then one directory each."""
    return "/dev/vda2 /\n" + "".join(f"/dev/vdb{n} /srv/m{n}\n" for n in range(lines - 1))


def seconds(action: object, rounds: int) -> float:
    """The median wall time of ``action()`` over ``rounds`` runs."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    small, large = text(args.lines), text(args.lines * 10)
    one = seconds(lambda: mountlist.parse(small, "m"), args.rounds)
    ten = seconds(lambda: mountlist.parse(large, "m"), args.rounds)
    print(f"parse {args.lines} lines: {one * 1000:.1f} ms; ", end="")
    print(f"{args.lines * 10} lines: {ten * 1000:.1f} ms")
    print(f"ratio for 10x the lines: {ten / one:.1f} (linear: about 10)")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "mountlist"

        def refuse() -> None:
            try:
                mountlist.read(path)
            except Refused:
                return
            raise AssertionError("not refused")

        path.write_text(text(10_000))
        refused = seconds(refuse, args.rounds)
        path.write_text(text(MOUNTLIST.max_lines))
        at_bound = seconds(lambda: mountlist.read(path), args.rounds)
    print(
        f"refuse a 10,000-line file: {refused * 1000:.2f} ms; read and check one at the bound "
        f"({MOUNTLIST.max_lines} lines): {at_bound * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
