"""Validation speed: a 1,000-job workflow through validate and load_workflow, against plain
``yaml.safe_load`` of the same text, measured in the same run. Run from the repository root:

    .venv/bin/python bench/bench_validate.py [JOBS]

Exits 1 when validating takes a second or more (the issue asks for well under a second).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import yaml

from iguana_fsm.workflow.parse import load_workflow
from iguana_fsm.workflow.validate import validate

REPEATS = 5
LIMIT_SECONDS = 1.0


def workflow_text(jobs: int) -> str:
    """A workflow of ``jobs`` jobs using every kind of key, each job needing the one before."""
    lines = [
        "name: benchmark",
        "description: many jobs",
        "env: {LOG_LEVEL: info, SITE: lab}",
        "public-env: [LOG_LEVEL]",
        "jobs:",
    ]
    for index in range(jobs):
        lines += [
            f"  job-{index}:",
            f"    needs: [job-{index - 1}]" if index else "    if: always()",
            "    timeout-minutes: 30",
            "    continue-on-error: false",
            "    env:",
            f"      STEP: '{index}'",
            "    container:",
            f"      image: registry.example.com/tools/step-{index % 50}:1.{index}",
            "      env:",
            "        DISK: /dev/vda",
            "      volumes:",
            "        - scratch:/scratch",
            "        - /srv/images:/images:ro",
            "    services:",
            "      db:",
            f"        image: registry.example.com/db@sha256:{index:064x}",
            "        volumes: [/run/db]",
        ]
    return "\n".join(lines) + "\n"


def best_of(function: Callable[[], object]) -> float:
    """The fastest of REPEATS runs, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str]) -> int:
    jobs = int(argv[1]) if len(argv) > 1 else 1000
    text = workflow_text(jobs)
    problems = validate(text, "bench.yaml")
    if problems:
        print(f"generated workflow is invalid: {problems[0]}", file=sys.stderr)
        return 2
    baseline = best_of(lambda: yaml.safe_load(text))
    c_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    baseline_c = best_of(lambda: yaml.load(text, Loader=c_loader))
    validating = best_of(lambda: validate(text, "bench.yaml"))
    loading = best_of(lambda: load_workflow(text, "bench.yaml"))
    print(f"workflow: {jobs} jobs, {len(text.splitlines())} lines, {len(text)} bytes")
    print(f"yaml.safe_load (pure Python)       {baseline * 1000:8.1f} ms")
    print(f"yaml.load, {c_loader.__name__:<13} (libyaml)  {baseline_c * 1000:8.1f} ms")
    print(f"iguana validate                    {validating * 1000:8.1f} ms")
    print(f"iguana load_workflow               {loading * 1000:8.1f} ms")
    print(f"ratio validate / safe_load         {validating / baseline:8.2f}")
    print(f"ratio validate / libyaml load      {validating / baseline_c:8.2f}")
    if validating >= LIMIT_SECONDS:
        print(f"too slow: validating took {validating:.2f} s (limit {LIMIT_SECONDS} s)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
