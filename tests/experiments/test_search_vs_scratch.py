"""experiments/search_vs_scratch.py at a tiny budget: its result files and measured fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "search_vs_scratch.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("model", ["cnn1d", "vit"])
def test_search_vs_scratch_smoke(tmp_path: Path, model: str) -> None:
    args = ["--quick", "--seconds", "10", "--grid", "1", "2", "--seeds", "0", "--workers", "1",
            "--model", model, "--set", "max_ops=1", "widen_factors=[1.5]"]  # fmt: skip
    res = _run(*args, "--seed-epochs", "1", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads((tmp_path / "results.json").read_text())
    assert out["settings"]["search"] == {"max_ops": 1, "widen_factors": [1.5]}
    assert set(out["chosen"]) == {"net2net", "scratch"}
    assert {(r["mode"], r["epochs"]) for r in out["runs"]} == {
        (m, e) for m in ("net2net", "scratch") for e in (1, 2)
    }
    for run in out["runs"]:
        assert run["curve"] and run["candidates"] >= 1 and 0 <= run["test"] <= 1
        assert 0 <= run["overhead"] <= 1
        # epoch 0: every warm child starts at exactly its parent's val accuracy
        assert run["exact_warm_starts"] == run["warm_starts"]
    assert sum(r["warm_starts"] for r in out["runs"] if r["mode"] == "net2net") >= 1
    assert out["targets"] and set(out["table"]) == {"net2net", "scratch"}
    for row in out["table"].values():
        assert set(row) >= {"time_to", "best_val_at_limit", "test", "candidates", "overhead_pct"}
    assert "| net2net |" in (tmp_path / "table.md").read_text()
    assert f"seed model {model}" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "curves.png").stat().st_size > 1000


@pytest.mark.parametrize("setting", ["seed=3", "no_such_field=1", "max_ops"])
def test_search_vs_scratch_refuses_bad_setting(tmp_path: Path, setting: str) -> None:
    res = _run("--quick", "--set", setting, "--out", str(tmp_path))
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert (
        "--set" in last and "expected KEY=VALUE with KEY one of" in last and "widen_factors" in last
    )
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    ("args", "field"),
    [(["--set", "max_ops=0"], "search.max_ops"), (["--pruner", "nope"], "search.pruner")],
)
def test_search_vs_scratch_refuses_bad_value(tmp_path: Path, args: list[str], field: str) -> None:
    out = tmp_path / "out"
    res = _run("--quick", *args, "--out", str(out))
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert field in last, last
    assert not out.exists()  # refused before anything is written
