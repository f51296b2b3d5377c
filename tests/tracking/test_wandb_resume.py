"""A resumed search continues its wandb search run: the same run id, the resume flag, and one
x axis (candidates_finished) that goes on where the first process stopped."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from nas.tracking import find_offline_runs, read_offline_run
from nas.tracking.wandb_tracker import search_run_id

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def _search(tmp_path: Path, trials: int):
    from nas.cli_search import run

    overrides = [
        "data.n_samples=600",
        "train.epochs=1",
        "search.seed_epochs=2",
        "train.progress=false",
        f"search.trials={trials}",
        "search.study=again",
        "search.startup_trials=2",
        f"storage=sqlite:///{tmp_path}/nas.db",
        "logger=wandb",
        "logger.plots=false",
        f"logger.dir={tmp_path}/wb",
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return run(compose("nas_search", overrides=overrides))


def test_resumed_search_continues_one_search_run(
    wandb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _search(tmp_path, trials=2)
    summary = _search(tmp_path, trials=4)  # the same study, two more candidates

    runs = [read_offline_run(p) for p in find_offline_runs(tmp_path / "wb")]
    searches = sorted((r for r in runs if r.job_type == "search"), key=lambda r: r.start_time)
    assert len(searches) == 2  # one folder per process ...
    assert {r.run_id for r in searches} == {search_run_id("again")} == {"again-search"}
    assert all(r.resumed and r.name == "again-search" for r in searches)  # ... one wandb run
    first, second = searches
    assert first.curve("candidates_finished") == [1, 2]
    assert second.curve("candidates_finished") == [3, 4]  # goes on, does not start again
    steps = first.curve("_step") + second.curve("_step")
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # one monotonic x axis
    best = first.curve("best_val_acc") + second.curve("best_val_acc")
    assert best == sorted(best)  # best so far never drops at the resume
    assert best[-1] == summary.best_val_acc
    assert second.config["search"]["trials"] == 4  # each process records its configuration

    # candidate runs are never repeated: trial numbers go on as well
    names = sorted(r.name for r in runs if r.job_type != "search")
    assert names == [f"again-t{n}" for n in range(4)]


def test_search_run_id_is_safe_and_stable() -> None:
    assert search_run_id("demo") == "demo-search"
    odd = search_run_id("my study/2024:a")
    assert odd == search_run_id("my study/2024:a")
    assert not set(odd) & set("/\\#?%: ") and len(odd) <= 64
    assert odd != search_run_id("my-study-2024-a")  # a changed name keeps a hash of the original
    assert len(search_run_id("x" * 200)) <= 64
