"""A tiny real search (the real Hydra config, logger=wandb), its wandb runs read back."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

import nas.net2net
from nas.tracking import TABLE_COLUMNS, read_offline_runs

CONF = str(Path(__file__).resolve().parents[2] / "conf")
# The mutations nas.net2net exports so far (the search needs at least one).
OPS = [
    op
    for op, fn in (("widen", "width_groups"), ("deepen", "depth_points"))
    if hasattr(nas.net2net, fn)
]


@pytest.mark.skipif(not OPS, reason="nas.net2net exports neither widen nor deepen yet")
@pytest.mark.parametrize("background", [False, True], ids=["inline", "background"])
def test_tiny_search_logs_every_candidate_and_the_lineage(
    wandb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, background: bool
) -> None:
    from hydra import compose, initialize_config_dir

    from nas.cli_search import run

    monkeypatch.chdir(tmp_path)  # outputs/ (artifacts, export) land in the test's folder
    overrides = [
        "data.n_samples=600",
        "train.epochs=2",
        "search.seed_epochs=3",
        "train.progress=false",
        "search.trials=4",
        "search.study=tiny",
        "search.startup_trials=2",
        f"search.mutations=[{','.join(OPS)}]",
        f"storage=sqlite:///{tmp_path}/nas.db",
        "logger=wandb",
        f"logger.dir={tmp_path}/wb",
        f"logger.background={str(background).lower()}",
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("nas_search", overrides=overrides)
    summary = run(cfg)
    trials = {t.number: t for t in optuna.load_study(study_name="tiny", storage=cfg.storage).trials}

    rows = {r["number"]: r for r in summary.lineage}
    finished = [n for n, r in rows.items() if r["state"] in ("complete", "pruned")]
    assert len(finished) == 4
    runs = read_offline_runs(tmp_path / "wb")
    assert set(runs) >= {f"tiny-t{n}" for n in finished} | {"tiny-search"}
    for n in finished:
        row, run = rows[n], runs[f"tiny-t{n}"]
        assert run.group == "tiny"
        assert run.job_type == ("root" if row["parent"] is None else "candidate")
        assert run.config["parent"] == row["parent"]
        assert run.config["mutation"] == row["mutation"]
        assert run.config["params"] == row["params"] and run.config["flops"] == row["flops"]
        # what Optuna stored, epoch by epoch; a child's curve starts at epoch 0 with its
        # accuracy right after the warm start (= its parent's: Net2Net's head start)
        start = [] if row["parent"] is None else [row["val_acc_before"]]
        assert run.curve("val_acc") == start + row["curve"]
        assert run.curve("epoch") == list(range(1 - len(start), len(row["curve"]) + 1))
        assert len(run.curve("train_loss")) == len(row["curve"])
        # epoch_seconds: each epoch's own time, not the running total the loop reports
        stored = [r["seconds"] for r in trials[n].user_attrs["curve"]]
        per_epoch = [b - a for a, b in zip([0.0, *stored], stored, strict=False)]
        assert run.curve("epoch_seconds") == pytest.approx(per_epoch)
        assert run.summary["state"] == row["state"]
        if row["state"] == "complete":
            assert run.summary["final_val_acc"] == row["val_acc"]
        if row["parent"] is not None:  # warm start: the child starts at its parent's accuracy
            parent_acc = runs[f"tiny-t{row['parent']}"].summary["final_val_acc"]
            assert run.summary["val_acc_before"] == pytest.approx(parent_acc, abs=1e-9)
            assert run.curve("val_acc")[0] == pytest.approx(parent_acc, abs=1e-9)

    search = runs["tiny-search"]
    assert search.job_type == "search"
    # the whole resolved configuration, not only the search's
    assert search.config["data"]["n_samples"] == 600 and search.config["train"]["epochs"] == 2
    assert search.config["model"]["name"] == "cnn1d" and search.config["search"]["trials"] == 4
    assert search.config["search"]["study"] == "tiny" and search.config["logger"]["kind"] == "wandb"
    table = search.table("lineage")
    assert table["columns"] == TABLE_COLUMNS
    got = {line[0]: line for line in table["data"]}
    assert set(got) == set(rows)
    for n, row in rows.items():
        assert got[n][1:3] == [row["parent"], row["state"]]
        assert got[n][4] == row["val_acc"]
    assert search.summary["best_trial"] == summary.best_trial
    assert search.curve("best_val_acc")[-1] == summary.best_val_acc
    assert search.summary["lineage_tree"]["_type"] == "image-file"
