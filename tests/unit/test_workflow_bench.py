"""The validation benchmark keeps working (its timing is checked by running it, not here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_validate.py"


def test_benchmark_runs_on_a_small_workflow(capsys: pytest.CaptureFixture[str]) -> None:
    """The benchmark's generated workflow is valid and it prints both timings and the ratio."""
    spec = importlib.util.spec_from_file_location("bench_validate", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["bench_validate.py", "20", "30"]) == 0
    output = capsys.readouterr().out
    assert "workflow: 20 jobs" in output
    assert "yaml.safe_load" in output and "iguana validate" in output
    assert "ratio validate / safe_load" in output
    assert "chain: 30 jobs" in output and "ratio validate / libyaml compose" in output


def test_shapes_benchmark_runs_every_shape(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/bench_validate_shapes.py validates each shape at N and 10N and prints the ratios;
    the shapes a valid workflow can take validate without problems."""
    path = BENCH.parent / "bench_validate_shapes.py"
    spec = importlib.util.spec_from_file_location("bench_validate_shapes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["20", "--repeats", "1"])  # its exit code is the ratio verdict: timing, not here
    output = capsys.readouterr().out
    rows = {line[:28].strip(): line.split() for line in output.splitlines()[1:-1]}
    assert set(rows) == set(module.SHAPES)
    for name in ("independent jobs", "needs chain", "dense needs (5 each)", "env entries"):
        assert rows[name][-4] == "0", rows[name]
    assert int(rows["one cycle through all"][-4]) == 1
    assert "largest ratio" in output
