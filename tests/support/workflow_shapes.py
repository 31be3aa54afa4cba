"""Generated worst-case workflow shapes, shared by the validation bounds tests and
bench/bench_validate.py so that both measure the same inputs."""

from __future__ import annotations


def needs_chain(jobs: int) -> str:
    """``jobs`` jobs, each naming its own image and needing the job before it (issue 17's shape)."""
    lines = ["jobs:"]
    for index in range(jobs):
        lines.append(f"  job-{index}:")
        if index:
            lines.append(f"    needs: job-{index - 1}")
        lines.append(f"    container: {{image: registry.example.com/step:{index}}}")
    return "\n".join(lines) + "\n"


def alias_bomb(levels: int = 9, width: int = 10) -> str:
    """A few kilobytes whose job's services are a mapping aliased ``width`` times per level, so
    that it expands to width**levels services (billion laughs)."""
    lines = ["x0: &x0 {image: alpine}"]
    for level in range(1, levels + 1):
        items = ", ".join(f"s{i}: *x{level - 1}" for i in range(width))
        lines.append(f"x{level}: &x{level} {{{items}}}")
    return (
        "\n".join(lines) + f"\njobs:\n  a:\n    container: {{image: x}}\n    services: *x{levels}\n"
    )
