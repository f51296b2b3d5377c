"""Real CandidateInfo objects and a scripted search, as the search loop would report them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nas.search.callbacks import CandidateInfo, SearchCallback, SearchSummary


def isolate_wandb(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Keep wandb's caches, artifact staging and settings under ``home``; never online."""
    for var in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        mp.setenv(var, str(home / var.lower()))
    mp.setenv("WANDB_SILENT", "true")
    mp.delenv("WANDB_API_KEY", raising=False)


@dataclass
class Scripted:
    """One scripted candidate: what the search would report to the callbacks."""

    info: CandidateInfo
    epochs: list[dict]
    result: dict
    row: dict = field(default_factory=dict)


def candidate(
    study: str, number: int, parent: int | None, mutation: list[dict], state: str = "complete"
) -> Scripted:
    """A candidate with a 3-epoch curve whose values encode the trial number (easy to check)."""
    info = CandidateInfo(
        study_name=study,
        trial_number=number,
        parent=parent,
        mutation=mutation,
        arch={"seed": {"name": "cnn1d", "kwargs": {"widths": [8, 8]}}, "transforms": mutation},
        params=1000 + 100 * number,
        flops=20000 + 1000 * number,
        hparams={"lr": 1e-3 / (1 + number), "noise": 0.01},
        warm_start=parent is not None,
        job_type="root" if parent is None else "candidate",
    )
    n_epochs = 1 if state == "pruned" else 3
    epochs = [
        {
            "epoch": e,
            "train_loss": 1.0 / (e + number),
            "val_loss": 1.2 / (e + number),
            "val_acc": 0.5 + 0.05 * number + 0.01 * e,
            "lr": info.hparams["lr"],
            "seconds": 0.25 * e,  # since training began, as nas.train reports it
        }
        for e in range(1, n_epochs + 1)
    ]
    val_acc = None if state == "fail" else epochs[-1]["val_acc"]
    before = None if parent is None else 0.5 + 0.05 * parent + 0.03
    reason = {"fail": "corrupted checkpoint", "pruned": "pruned at epoch 1"}.get(state, "")
    result = {
        "state": state,
        "val_acc": val_acc,
        "val_acc_before_training": before,
        "reason": reason,
    }
    row = {
        "number": number,
        "parent": parent,
        "state": state,
        "mutation": mutation,
        "val_acc": val_acc,
        "val_acc_before": before,
        "params": info.params,
        "flops": info.flops,
        "curve": [e["val_acc"] for e in epochs] if state != "fail" else [],
    }
    return Scripted(info, epochs if state != "fail" else [], result, row)


WIDEN = {"op": "widen", "target": "features.0", "factor": 2.0, "width": 16}
DEEPEN = {"op": "deepen", "target": "features.3"}


def scripted_search(study: str) -> list[Scripted]:
    """Root, two children of the root, a grandchild (best), a pruned and a failed candidate."""
    return [
        candidate(study, 0, None, []),
        candidate(study, 1, 0, [WIDEN]),
        candidate(study, 2, 0, [DEEPEN]),
        candidate(study, 3, 1, [DEEPEN, WIDEN | {"width": 32}]),
        candidate(study, 4, 1, [WIDEN | {"target": "features.3"}], state="pruned"),
        candidate(study, 5, 2, [DEEPEN], state="fail"),
    ]


def drive(tracker: SearchCallback, study: str, script: list[Scripted], **summary: object) -> None:
    """Call the tracker exactly as the search loop does."""
    tracker.on_search_start(study, {"trials": len(script), "data": "mnist1d"})
    for cand in script:
        tracker.on_candidate_start(cand.info)
        for record in cand.epochs:
            tracker.on_epoch(cand.info, record)
        tracker.on_candidate_end(cand.info, cand.result)
    rows = [c.row for c in script]
    defaults: dict = {
        "study_name": study,
        "storage": "sqlite:///:memory:",
        "objective": "accuracy",
        "best_trial": 3,
        "best_val_acc": rows[3]["val_acc"],
        "test_acc": 0.7,
        "root_test_acc": 0.5,
        "lineage": rows,
        "best_so_far": [{"number": 0, "elapsed": 1.0, "best_val_acc": rows[0]["val_acc"]}],
        "timings": {"wall_seconds": 10.0, "overhead_fraction": 0.03},
        "best_path": [0, 1, 3],
    }
    tracker.on_search_end(SearchSummary(**(defaults | summary)))
