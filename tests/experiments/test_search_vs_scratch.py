"""experiments/search_vs_scratch.py at a tiny budget: its result files and measured fields."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from experiment_script import run_script

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "search_vs_scratch.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return run_script(SCRIPT, *args)


@pytest.mark.parametrize("model", ["cnn1d", "vit"])
def test_search_vs_scratch_smoke(tmp_path: Path, model: str) -> None:
    args = ["--quick", "--seconds", "10", "--grid", "1", "2", "--seeds", "0", "--workers", "1",
            "--model", model, "--set", "max_ops=1", "widen_factors=[1.5]",
            "--net2net-set", 'mutations=["widen","train"]']  # fmt: skip
    res = _run(*args, "--seed-epochs", "1", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads((tmp_path / "results.json").read_text())
    assert out["settings"]["search"] == {"max_ops": 1, "widen_factors": [1.5]}
    assert out["settings"]["net2net_search"] == {"mutations": ["widen", "train"]}
    assert set(out["chosen"]) == {"net2net", "scratch"}
    assert {(r["mode"], r["epochs"]) for r in out["runs"]} == {
        (m, e) for m in ("net2net", "scratch") for e in (1, 2)
    }
    for run in out["runs"]:
        assert run["curve"] and run["candidates"] >= 1 and 0 <= run["test"] <= 1
        assert 0 <= run["overhead"] <= 1
        # epoch 0: every warm child starts at exactly its parent's val accuracy
        assert run["exact_warm_starts"] == run["warm_starts"]
        # the best candidate finished by the limit, and its test accuracy
        assert run["best_trial_at_limit"] in {p["number"] for p in run["curve"]}
        assert 0 <= run["test_at_limit"] <= 1
    assert sum(r["warm_starts"] for r in out["runs"] if r["mode"] == "net2net") >= 1
    assert out["targets"] and set(out["table"]) == {"net2net", "scratch"}
    for row in out["table"].values():
        assert set(row) >= {"time_to", "best_val_at_limit", "test", "candidates", "overhead_pct"}
    assert "| net2net |" in (tmp_path / "table.md").read_text()
    assert f"seed model {model}" in (tmp_path / "table.md").read_text()
    assert (
        'net2net only: --net2net-set mutations=["widen", "train"]'
        in (tmp_path / "table.md").read_text()
    )
    assert (tmp_path / "curves.png").stat().st_size > 1000
    # --report-only rebuilds the table from results.json alone
    table = (tmp_path / "table.md").read_text()
    (tmp_path / "table.md").unlink()
    res = _run("--report-only", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "table.md").read_text() == table


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("search_vs_scratch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_limit_counts_only_candidates_finished_by_it() -> None:
    svs = _script()
    curve = [  # one point per finished candidate: (number, elapsed, best val so far)
        {"number": n, "elapsed": t, "best_val_acc": v}
        for n, t, v in [(0, 10, 0.5), (2, 40, 0.6), (1, 50, 0.6), (3, 120, 0.9)]
    ]
    assert svs._best_at_limit(curve, 100) == 2  # 1 finished later without improving
    assert svs._best_at_limit(curve, 200) == 3
    assert svs._best_at_limit(curve, 5) is None
    assert svs.time_to(curve, 0.6, 100) == 40
    assert svs.time_to(curve, 0.9, 100) is None  # reached only after the limit
    assert svs.time_to(curve, 0.9, 120) == 120


def test_test_acc_of_a_stored_candidate_matches_the_search(tmp_path: Path) -> None:
    """``_test_acc`` rebuilds a finished candidate from its checkpoint: the root's test accuracy
    computed that way equals the one the search's summary reports."""
    svs = _script()
    from nas.data import mnist1d
    from nas.models import model_spec
    from nas.search import SearchConfig, prepare_search
    from nas.train import Budget, TrainOptions

    torch.manual_seed(0)
    prepared = prepare_search(
        SearchConfig(study="t", trials=2, seed_epochs=1),
        data=mnist1d(seed=0, n_samples=600),
        seed_model=model_spec("cnn1d", widths=[4, 4]),
        train=TrainOptions(budget=Budget(epochs=1), progress=False),
        storage=f"sqlite:///{tmp_path}/s.db",
        artifacts=tmp_path / "artifacts",
        run_dir=tmp_path / "run",
        progress=False,
    )
    summary = prepared.run()
    root = next(r["number"] for r in summary.lineage if r["parent"] is None)
    assert summary.root_test_acc is not None
    assert svs._test_acc(prepared, root) == summary.root_test_acc


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
    [
        (["--set", "max_ops=0"], "search.max_ops"),
        (["--pruner", "nope"], "search.pruner"),
        (["--set", 'mutations=["train"]'], "scratch mode: search.mutations: train continues"),
        (["--net2net-set", "max_ops=0"], "net2net mode: search.max_ops"),
    ],
)
def test_search_vs_scratch_refuses_bad_value(tmp_path: Path, args: list[str], field: str) -> None:
    out = tmp_path / "out"
    res = _run("--quick", *args, "--out", str(out))
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert field in last, last
    assert not out.exists()  # refused before anything is written


COMPARE = SCRIPT.with_name("compare_searches.py")
RESULTS = SCRIPT.parent / "results"


def test_compare_searches_pairs_two_folders_under_the_same_rules(tmp_path: Path) -> None:
    """Pairing a committed run's two modes reproduces that run's own time ratios; runs that went
    at different speeds get a note; folders that do not match (seeds, time limit) or an unknown
    mode are one line, exit 2."""
    spec = importlib.util.spec_from_file_location("compare_searches", COMPARE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    folder = RESULTS / "search_vs_scratch_vit_step5"
    a, settings = mod.load(folder, "net2net")
    b, _ = mod.load(folder, "scratch")
    result = mod.compare(a, b, settings["seconds"], settings["targets"])
    saved = json.loads((folder / "results.json").read_text())
    got = {r["target"]: r["a_over_b"] for r in result["targets"] if r["a_over_b"] is not None}
    want = {r["target"]: r["net2net_over_scratch"] for r in saved["ratios"]}
    assert len(want) == 3 and got == pytest.approx(want)
    assert mod.speed_note(a, b) is None  # side by side in one run: the same speed
    slower, _ = mod.load(RESULTS / "search_vs_scratch_vit_sh", "net2net")  # another day
    assert "different speeds" in mod.speed_note(a, slower)
    mismatched = subprocess.run(
        [sys.executable, str(COMPARE), f"{folder}:net2net",
         f"{RESULTS / 'search_vs_scratch_vit_900'}:scratch"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert mismatched.returncode == 2 and "not comparable" in mismatched.stderr
    assert len(mismatched.stderr.strip().splitlines()[-1]) < 200
    unknown = subprocess.run(
        [sys.executable, str(COMPARE), f"{folder}:warm", f"{folder}:scratch"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unknown.returncode == 2 and "MODE one of" in unknown.stderr
