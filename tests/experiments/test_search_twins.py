"""experiments/search_twins.py at a tiny budget: its result files and measured fields."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from experiment_script import run_script

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "search_twins.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return run_script(SCRIPT, *args)


def test_search_twins_smoke(tmp_path: Path) -> None:
    res = _run("--quick", "--seconds", "5", "--epochs", "1", "--seed-epochs", "1",
               "--twin-epochs", "1", "2", "--more-epochs", "1", "--seeds", "0", "1",
               "--workers", "1", "--out", str(tmp_path))  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads((tmp_path / "results.json").read_text())
    assert [r["seed"] for r in out["runs"]] == [0, 1]
    for run in out["runs"]:
        winner = run["winner"]
        assert winner["trial"] > 0  # a grown candidate, not the seed model
        assert 0 < winner["elapsed"] <= 5 + 1e-6  # finished within the time limit
        # the twins are the winner's architecture, trained for the asked epochs
        assert [t["epochs"] for t in run["twins"]] == [1, 2]
        assert {t["params"] for t in run["twins"]} == {winner["params"]}
        assert run["more"]["epochs"] == 1 and run["more"]["params"] == winner["params"]
        for rec in [winner, *run["twins"], run["more"]]:
            assert all(0.0 <= rec[s] <= 1.0 for s in ("train", "val", "test"))
    assert len(out["rows"]) == 4  # winner, two twins, trained longer
    table = (tmp_path / "table.md").read_text()
    assert "its architecture from random init, 2 epochs" in table
    assert (tmp_path / "bars.png").stat().st_size > 0


def test_search_twins_refuses_bad_epochs(tmp_path: Path) -> None:
    res = _run("--twin-epochs", "0", "--out", str(tmp_path / "out"))
    assert res.returncode == 2
    assert "--twin-epochs" in res.stderr and "positive whole number" in res.stderr
    assert not (tmp_path / "out").exists()
