"""The wandb backend, read back from its offline files with `wandb leet inspect --json`."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest
from tracking_helpers import DEEPEN, WIDEN, candidate, drive, isolate_wandb, scripted_search

from nas.tracking import TABLE_COLUMNS, create_tracker, find_offline_runs, read_offline_runs
from nas.tracking.offline import OfflineRun
from nas.tracking.wandb_tracker import WandbTracker

STUDY = "tstudy"


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, dict[str, OfflineRun]]:
    """Drive the wandb tracker through a scripted search once; read every run back."""
    mp = pytest.MonkeyPatch()
    isolate_wandb(mp, tmp_path_factory.mktemp("wandb_home"))
    out = tmp_path_factory.mktemp("run")
    script = scripted_search(STUDY)
    tracker = create_tracker("wandb", run_dir=out, project="nas-tests", tags=["test"])
    drive(tracker, STUDY, script)
    runs = read_offline_runs(out)
    mp.undo()
    return script, runs


def test_one_run_per_candidate_plus_search_run(logged) -> None:
    script, runs = logged
    assert set(runs) == {f"{STUDY}-t{c.info.trial_number}" for c in script} | {f"{STUDY}-search"}
    for cand in script:
        run = runs[f"{STUDY}-t{cand.info.trial_number}"]
        assert run.group == STUDY
        assert run.job_type == ("root" if cand.info.parent is None else "candidate")
        assert run.state == ("failed" if cand.result["state"] == "fail" else "finished")
    assert runs[f"{STUDY}-search"].job_type == "search"
    assert runs[f"{STUDY}-search"].group == STUDY


def test_only_the_search_run_records_the_installed_packages(logged) -> None:
    """The package list is the same for every run of a search and costs ~0.1-0.2 s per init."""
    _, runs = logged
    assert (runs[f"{STUDY}-search"].path / "files" / "requirements.txt").is_file()
    candidates = [r for name, r in runs.items() if name != f"{STUDY}-search"]
    assert candidates
    assert not any((r.path / "files" / "requirements.txt").exists() for r in candidates)


def test_candidate_curves_equal_what_was_logged(logged) -> None:
    script, runs = logged
    for cand in script:
        run = runs[f"{STUDY}-t{cand.info.trial_number}"]
        for key in ("val_acc", "val_loss", "train_loss", "lr"):
            assert run.curve(key) == [e[key] for e in cand.epochs], key
        # step = epoch, so every candidate's curves share the same x axis
        assert run.curve("epoch") == [e["epoch"] for e in cand.epochs]
        assert run.curve("_step") == [e["epoch"] for e in cand.epochs]
        assert run.curve("epoch_seconds") == [0.25] * len(cand.epochs)  # per epoch, not total


def test_candidate_config_and_summary(logged) -> None:
    script, runs = logged
    for cand in script:
        info, run = cand.info, runs[f"{STUDY}-t{cand.info.trial_number}"]
        cfg = run.config
        assert cfg["parent"] == info.parent
        assert cfg["mutation"] == info.mutation
        assert cfg["trial"] == info.trial_number
        assert (cfg["params"], cfg["flops"]) == (info.params, info.flops)
        assert cfg["hparams"] == info.hparams
        assert cfg["warm_start"] is info.warm_start
        assert cfg["arch"]["seed"]["name"] == "cnn1d"
        summary = run.summary
        assert summary["state"] == cand.result["state"]
        assert summary["reason"] == cand.result["reason"]
        assert summary.get("final_val_acc") == cand.result["val_acc"]
        assert summary.get("val_acc_before") == cand.result["val_acc_before_training"]
        assert run.exit_code == (1 if cand.result["state"] == "fail" else 0)
    assert runs[f"{STUDY}-t3"].config["mutation_desc"] == (
        "deepen features.3; widen features.0 x2 (32)"
    )
    assert runs[f"{STUDY}-t0"].config["mutation_desc"] == "seed"


def test_search_run_lineage_table_and_best_so_far(logged) -> None:
    script, runs = logged
    search = runs[f"{STUDY}-search"]
    table = search.table("lineage")
    assert table["columns"] == TABLE_COLUMNS
    by_number = {line[0]: dict(zip(TABLE_COLUMNS, line, strict=True)) for line in table["data"]}
    assert sorted(by_number) == [c.info.trial_number for c in script]
    for cand in script:
        line = by_number[cand.info.trial_number]
        assert line["parent"] == cand.info.parent
        assert line["state"] == cand.result["state"]
        assert line["val_acc"] == cand.result["val_acc"]
        assert line["val_acc_before"] == cand.result["val_acc_before_training"]
        assert (line["params"], line["flops"]) == (cand.info.params, cand.info.flops)
    assert by_number[1]["mutation"] == "widen features.0 x2 (16)"
    # derived columns a table panel can group and filter by
    assert [by_number[n]["ops"] for n in range(6)] == [
        "seed", "widen", "deepen", "deepen+widen", "widen", "deepen",
    ]  # fmt: skip
    assert [by_number[n]["generation"] for n in range(6)] == [0, 1, 1, 2, 2, 2]
    assert [by_number[n]["on_best_path"] for n in range(6)] == [1, 1, 0, 1, 0, 0]
    assert by_number[3]["gain"] == pytest.approx(
        script[3].result["val_acc"] - script[3].result["val_acc_before_training"]
    )
    assert by_number[0]["gain"] is None and by_number[5]["gain"] is None
    assert (by_number[3]["test_acc"], by_number[0]["test_acc"]) == (0.7, 0.5)
    assert by_number[1]["test_acc"] is None
    # best so far, one point per finished candidate; pruned/failed ones do not raise it
    assert search.curve("candidates_finished") == list(range(1, len(script) + 1))
    assert search.curve("candidate_trial") == [c.info.trial_number for c in script]
    complete = [c.result["val_acc"] for c in script[:4]]
    expected = [max(complete[: i + 1]) for i in range(4)] + [max(complete)] * 2
    assert search.curve("best_val_acc") == expected
    assert search.summary["best_trial"] == 3
    assert search.summary["best_val_acc"] == script[3].result["val_acc"]
    assert search.summary["timings/overhead_fraction"] == 0.03
    assert search.config["trials"] == len(script)
    assert search.curve("_step") == list(range(1, len(script) + 1))  # step = candidates_finished


def test_search_run_has_tree_and_curve_pictures(logged) -> None:
    _, runs = logged
    search = runs[f"{STUDY}-search"]
    for key in ("lineage_tree", "accuracy_curves"):
        ref = search.summary[key]
        assert ref["_type"] == "image-file"
        png = search.path / "files" / ref["path"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10_000
        assert ref["width"] > 300 and ref["height"] > 200


def test_online_without_server_falls_back_to_offline(
    wandb_home: Path, tmp_path: Path, monkeypatch
) -> None:
    """Online mode with no reachable server: bounded by init_timeout, then offline + warning."""
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens: like no network
    tracker = WandbTracker(project="p", mode="online", dir=tmp_path, init_timeout=2)
    cand = candidate("online", 0, None, [])
    start = time.perf_counter()
    with pytest.warns(RuntimeWarning, match="logging offline instead"):
        tracker.on_search_start("online", {})
    assert time.perf_counter() - start < 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fallback is remembered: no second wait, no warning
        tracker.on_candidate_start(cand.info)
        for record in cand.epochs:
            tracker.on_epoch(cand.info, record)
        tracker.on_candidate_end(cand.info, cand.result)
    tracker.close()
    runs = read_offline_runs(tmp_path, names=["online-t0"])
    assert runs["online-t0"].curve("val_acc") == [e["val_acc"] for e in cand.epochs]


def test_twenty_candidates_offline(wandb_home: Path, tmp_path: Path) -> None:
    """20 sequential candidate runs in offline mode, each its own run (measured ~0.05-0.1 s
    each on an idle machine; printed, not asserted: timings belong to benchmarks)."""
    tracker = create_tracker("wandb", dir=tmp_path)
    start = time.perf_counter()
    tracker.on_search_start("many", {})
    for n in range(20):
        cand = candidate("many", n, None if n == 0 else n - 1, [] if n == 0 else [DEEPEN])
        tracker.on_candidate_start(cand.info)
        for record in cand.epochs:
            tracker.on_epoch(cand.info, record)
        tracker.on_candidate_end(cand.info, cand.result)
    elapsed = time.perf_counter() - start
    tracker.close()
    print(f"20 candidate runs offline: {elapsed:.2f} s")
    assert len(find_offline_runs(tmp_path)) == 21
    last = read_offline_runs(tmp_path, names=["many-t19"])["many-t19"]
    assert last.config["parent"] == 18 and last.config["mutation"] == [DEEPEN]


def test_close_finishes_open_runs_as_failed(wandb_home: Path, tmp_path: Path) -> None:
    """A search that raises mid-candidate: close() leaves no run open, the open one as failed."""
    tracker = create_tracker("wandb", dir=tmp_path)
    cand = candidate("crash", 0, None, [WIDEN])
    tracker.on_search_start("crash", {})
    tracker.on_candidate_start(cand.info)
    tracker.on_epoch(cand.info, cand.epochs[0])
    tracker.close()
    tracker.close()
    runs = read_offline_runs(tmp_path)
    assert runs["crash-t0"].exit_code == 1
    assert runs["crash-t0"].curve("val_acc") == [cand.epochs[0]["val_acc"]]
    assert runs["crash-search"].exit_code == 0
