"""`make bench` runs and prints one row of positive timings and ratios per model."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture()
def bench():
    sys.path.insert(0, str(EXPERIMENTS))
    yield importlib.import_module("bench_net2net")
    sys.path.remove(str(EXPERIMENTS))


def test_bench_prints_every_column_for_a_small_model(bench, capsys) -> None:
    pytest.importorskip("torch_pruning")  # the `bench` extra, installed by `make test`
    bench.main(["--models", "resnet18", "--size", "64", "--repeats", "1"])
    lines = capsys.readouterr().out.splitlines()
    header, row = lines[0].split(), lines[2].split()
    assert "copies/TP" in header and row[0] == "resnet18"
    values = [float(v) for v in row[1:]]
    # 8 timings (groups, widen, points, deepen, ours, ours+verify, TP, copies) + 2 ratios
    assert len(values) == 10 and all(math.isfinite(v) and v > 0 for v in values)
