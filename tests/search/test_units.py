"""Small pieces of the search on their own: config validation, parent policies, checkpoints."""

from __future__ import annotations

import hashlib

import optuna
import pytest
import torch
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from nas.search.candidate import CheckpointError, load_state_dict, save_checkpoint
from nas.search.config import SearchConfig, SearchConfigError
from nas.search.lineage import best_so_far, lineage_path, lineage_rows, lineage_tree
from nas.search.parents import choose_parent, pareto_front
from nas.search.storage import artifact_store, open_storage, recover_stale


@pytest.mark.parametrize(
    "values,field",
    [
        ({"mutations": ["widen", "shrink"]}, "search.mutations: unknown mutation 'shrink'"),
        ({"trials": 0}, "search.trials"),
        ({"objective": "speed"}, "search.objective"),
        ({"parent": "pareto"}, "search.parent=pareto"),
        ({"widen_factors": [1.0]}, "search.widen_factors"),
        ({"lr_ratio": [0.5, 0.1]}, "search.lr_ratio"),
        ({"bogus": 1}, "search: unknown key(s) bogus"),
        ({"hparams": {"weight_decay": [0, 1]}}, "search.hparams.weight_decay"),
    ],
)
def test_config_errors_name_the_field(values, field):
    with pytest.raises(
        SearchConfigError, match="^" + field.replace("(", r"\(").replace(")", r"\)")
    ):
        SearchConfig.from_dict(values)


def _done(number: int, acc: float, params: int, parent: int | None) -> optuna.trial.FrozenTrial:
    return create_trial(
        values=[acc, params] if params else [acc],
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        user_attrs={"checkpoint": {"artifact_id": "a"}, "params": params, "parent": parent,
                    "job_type": "root" if parent is None else "candidate", "mutation": []},
    )  # fmt: skip


def test_parent_policies():
    study = optuna.create_study(direction="maximize")
    for n, (acc, parent) in enumerate([(0.8, None), (0.9, 0), (0.85, 0), (0.95, 1)]):
        study.add_trial(_done(n, acc, 0, parent))
    assert choose_parent(None, study, "best").number == 3
    assert choose_parent(None, study, "best", exclude={3}).number == 1
    picks = set()
    for _ in range(30):  # the tournament position is a suggested parameter over the top k
        trial = study.ask()
        picks.add(choose_parent(trial, study, "tournament", k=2).number)
        study.tell(trial, state=TrialState.FAIL)
    assert picks == {1, 3}
    rows = lineage_rows(study)
    assert lineage_path(rows, 3) == [0, 1, 3]
    tree = lineage_tree([r for r in rows if r["state"] == "complete"])
    assert tree[0]["number"] == 0 and [c["number"] for c in tree[0]["children"]] == [1, 2]


def test_pareto_front_is_accuracy_vs_params():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for n, (acc, params) in enumerate([(0.8, 100), (0.9, 200), (0.85, 300), (0.95, 400)]):
        study.add_trial(_done(n, acc, params, None if n == 0 else 0))
    front = pareto_front(study.get_trials(states=(TrialState.COMPLETE,)))
    assert [t.number for t in front] == [0, 1, 3]


def test_checkpoint_roundtrip_and_corruption(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path}/x.db")
    store = artifact_store(tmp_path / "art")
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    model = torch.nn.Linear(3, 2)
    ref = save_checkpoint(trial, model, store)
    study.tell(trial, 1.0)
    blob = (tmp_path / "art" / ref["artifact_id"]).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == ref["sha256"]
    sd = load_state_dict(store, ref)
    assert torch.equal(sd["weight"], model.weight)
    (tmp_path / "art" / ref["artifact_id"]).write_bytes(blob[: len(blob) // 2])  # cut mid-write
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        load_state_dict(store, ref)


def test_stale_running_trial_is_failed(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path}/x.db")
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    trial.set_user_attr("worker", {"host": "elsewhere", "pid": 1, "heartbeat": 0.0})
    live = study.ask()  # no worker record, just started: not stale
    assert recover_stale(study, stale_after=600) == [trial.number]
    states = {t.number: t.state for t in study.trials}
    assert states == {trial.number: TrialState.FAIL, live.number: TrialState.RUNNING}
    assert study.trials[0].user_attrs["fail_reason"].startswith("stale")


def test_best_so_far_is_monotone():
    study = optuna.create_study(direction="maximize")
    for n, acc in enumerate([0.5, 0.7, 0.6, 0.9]):
        study.add_trial(_done(n, acc, 0, None if n == 0 else 0))
    curve = best_so_far(lineage_rows(study))
    assert [p["best_val_acc"] for p in curve] == [0.5, 0.7, 0.7, 0.9]
