"""End-to-end searches on the real stack: the library entry point, Optuna RDB storage, artifacts,
torch."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState
from search_helpers import Recorder

from nas.models import build_from_spec
from nas.search.metrics import accuracy64
from nas.search.mutation import OPS
from nas.search.space import replay
from nas.train import Budget, TrainOptions

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _study(tmp_path: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/nas.db")


def check_lineage(study: optuna.Study) -> None:
    """Every non-root trial's parent exists, is COMPLETE and finished before the child started."""
    trials = {t.number: t for t in study.trials}
    roots = [t for t in trials.values() if t.user_attrs.get("job_type") == "root"]
    assert roots and all(t.user_attrs["parent"] is None for t in roots)
    candidates = [t for t in trials.values() if t.user_attrs.get("job_type") == "candidate"]
    assert candidates, "no candidate trial: nothing was checked"
    for t in candidates:
        parent = trials[t.user_attrs["parent"]]
        assert parent.state == TrialState.COMPLETE
        assert parent.datetime_complete <= t.datetime_start
        assert t.user_attrs["mutation"], t.number
        for op in t.user_attrs["mutation"]:
            assert op["op"] in OPS and isinstance(op["target"], str)
        path = t.user_attrs["arch"]["path"]
        assert path == parent.user_attrs["arch"]["path"] + t.user_attrs["mutation"]


def check_preserved(study: optuna.Study) -> int:
    """Warm start: a child's val accuracy before training equals its parent's, exactly."""
    trials = {t.number: t for t in study.trials}
    checked = 0
    for t in trials.values():
        if t.user_attrs.get("job_type") != "candidate" or "val_acc_before" not in t.user_attrs:
            continue
        assert t.user_attrs["val_acc_before"] == trials[t.user_attrs["parent"]].values[0], t.number
        assert t.user_attrs["preserved"] is True
        checked += 1
    return checked


def test_search_end_to_end(tiny_search, tmp_path):
    rec = Recorder()
    job = tiny_search(trials=5, study="e2e", callbacks=[rec])
    summary = job.run()
    study = _study(tmp_path, "e2e")
    assert len(study.get_trials(states=FINISHED)) == 5
    assert not study.get_trials(states=(TrialState.RUNNING,))
    check_lineage(study)
    assert check_preserved(study) >= 1
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        a = t.user_attrs
        assert a["params"] > 0 and a["flops"] > 0 and a["curve"] and a["checkpoint"]["sha256"]
    # the callbacks were driven
    assert len(rec.calls["on_search_start"]) == 1 and len(rec.calls["on_search_end"]) == 1
    assert len(rec.calls["on_candidate_end"]) == len(study.trials)
    assert len(rec.calls["on_epoch"]) >= 5
    assert rec.calls["on_search_end"][0][0].best_trial == summary.best_trial
    # summary, lineage and export
    assert summary.best_val_acc == max(
        t.value for t in study.get_trials(states=(TrialState.COMPLETE,))
    )
    assert summary.best_path[0] == 0 and summary.best_path[-1] == summary.best_trial
    assert summary.best_so_far and summary.timings["trainings"] == 5
    rows = summary.lineage
    assert {"number", "parent", "state", "mutation", "val_acc", "curve", "arch"} <= set(rows[0])
    out = Path(summary.export_dir)
    card = json.loads((out / "model_card.json").read_text())
    assert card["trial"] == summary.best_trial and math.isclose(card["test_acc"], summary.test_acc)
    arch = json.loads((out / "architecture.json").read_text())
    env = job.env
    model = build_from_spec(arch["seed"], input_shape=arch["input_shape"], num_classes=10)
    model = replay(model, arch["path"], next(iter(env.data.train))[0][:2])
    model.load_state_dict(torch.load(out / "model.pt", weights_only=True))
    assert accuracy64(model, env.data.val) == summary.best_val_acc


def test_rerun_continues_without_retraining(tiny_search, tmp_path):
    first = tiny_search(trials=3, study="cont").run()
    before = {
        t.number: (t.datetime_start, t.datetime_complete) for t in _study(tmp_path, "cont").trials
    }
    second = tiny_search(trials=5, study="cont").run()
    study = _study(tmp_path, "cont")
    assert first.timings["trainings"] == 3 and second.timings["trainings"] == 2
    assert len(study.get_trials(states=FINISHED)) == 5
    for t in study.trials:
        if t.number in before:
            assert (t.datetime_start, t.datetime_complete) == before[t.number]
    check_lineage(study)
    assert check_preserved(study) >= 1


def test_zero_out_widening_is_exact_recorded_and_resumes(tiny_search, tmp_path):
    """search.widen_init=zero_out: every widened child starts at its parent's accuracy, its
    steps say how they widened, and a rerun rebuilds the stored candidates to continue."""
    cfg = {"widen_init": "zero_out", "mutations": ["widen"], "study": "zo", "pruner": "none"}
    tiny_search(trials=3, **cfg).run()
    summary = tiny_search(trials=5, **cfg).run()
    study = _study(tmp_path, "zo")
    assert len(study.get_trials(states=FINISHED)) == 5 and summary.timings["trainings"] == 2
    check_lineage(study)
    assert check_preserved(study) == 4
    steps = [op for t in study.trials for op in t.user_attrs.get("mutation") or []]
    assert len(steps) >= 4 and all(op["init"] == "zero_out" for op in steps)
    assert all("split" not in op for op in steps)


def test_train_steps_continue_the_parent_and_resume(tiny_search, tmp_path):
    """search.mutations=[train]: each child is its parent trained further - the same
    architecture, starting at the parent's exact accuracy with the parent's optimizer state -
    and a rerun rebuilds such candidates from their checkpoints to continue the chain."""
    cfg = {"mutations": ["train"], "study": "tr", "pruner": "none"}
    tiny_search(trials=3, **cfg).run()
    summary = tiny_search(trials=5, **cfg).run()
    study = _study(tmp_path, "tr")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 5
    assert summary.timings["trainings"] == 2
    check_lineage(study)
    assert check_preserved(study) == 4
    trials = {t.number: t for t in study.trials}
    for t in trials.values():
        if t.user_attrs["job_type"] != "candidate":
            continue
        parent = trials[t.user_attrs["parent"]]
        assert [m["op"] for m in t.user_attrs["mutation"]] == ["train"]
        assert t.user_attrs["params"] == parent.user_attrs["params"]
        assert t.user_attrs["arch"]["widths"] == parent.user_attrs["arch"]["widths"]
        sha = t.user_attrs["checkpoint"]["sha256"]
        assert sha != parent.user_attrs["checkpoint"]["sha256"]  # it trained
    grown = [t.user_attrs["grown_optimizer"] for t in trials.values() if t.number]
    assert grown[:2] == [True, True]  # parents trained in this process hand on their state


def test_train_steps_get_their_own_budget(tiny_search, tmp_path):
    """search.train_epochs sizes the train steps only: grown children keep the candidates'
    budget (1 epoch here), train children train train_epochs epochs."""
    tiny_search(
        trials=8, mutations=["widen", "train"], train_epochs=2, study="te", pruner="none"
    ).run()
    epochs = {"widen": set(), "train": set()}
    for t in _study(tmp_path, "te").get_trials(states=(TrialState.COMPLETE,)):
        if t.user_attrs["job_type"] == "candidate":
            ops = {m["op"] for m in t.user_attrs["mutation"]}
            epochs["train" if ops == {"train"} else "widen"].add(len(t.user_attrs["curve"]))
    assert epochs == {"widen": {1}, "train": {2}}


def test_the_last_epoch_is_never_pruned(tiny_search, tmp_path):
    """The pruner is asked only while stopping still saves epochs: a candidate that trained
    its whole budget keeps its result, even below the median of its predecessors there."""
    two = TrainOptions(budget=Budget(epochs=2), progress=False)
    tiny_search(train=two, trials=10, study="last", pruner="median", pruner_warmup=2).run()
    done = sorted(_study(tmp_path, "last").get_trials(states=FINISHED), key=lambda t: t.number)
    children = [t for t in done if t.user_attrs["job_type"] == "candidate"]
    pruned = [t.number for t in children if t.state == TrialState.PRUNED]
    assert not pruned, f"trials {pruned} pruned at their last epoch (warm-up 2 of 2 epochs)"
    # the case the rule is for came up: the same median pruner, shown the children completed
    # before one that completed, would have pruned it at its last epoch
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)
    would_prune = []
    for t in children:
        before = optuna.create_study(direction="maximize")
        before.add_trials([c for c in children if c.number < t.number and c.state == t.state])
        if t.state == TrialState.COMPLETE and pruner.prune(before, t):
            would_prune.append(t.number)
    assert would_prune


def test_scratch_mode(tiny_search, tmp_path):
    summary = tiny_search(
        warm_start=False, trials=3, study="scratch", final_train="scratch", final_epochs=1
    ).run()
    study = _study(tmp_path, "scratch")
    card = json.loads((Path(summary.export_dir) / "model_card.json").read_text())
    assert card["final_train"]["mode"] == "scratch" and 0 <= card["final_train"]["test_acc"] <= 1
    assert card["warm_start"] is False and (Path(summary.export_dir) / "final_model.pt").is_file()
    children = [t for t in study.trials if t.user_attrs.get("job_type") == "candidate"]
    assert children and len(study.get_trials(states=FINISHED)) == 3
    for t in children:
        assert t.user_attrs["warm_start"] is False
        assert t.user_attrs["hparams"]["lr_ratio"] == 1.0
        assert "val_acc_before" in t.user_attrs and "preserved" not in t.user_attrs
    check_lineage(study)


def test_corrupted_checkpoint_fails_that_candidate_only(tiny_search, tmp_path):
    tiny_search(trials=3, study="corrupt", parent="best").run()
    study = _study(tmp_path, "corrupt")
    best = max(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: (t.value, -t.number))
    ckpt = tmp_path / "artifacts" / best.user_attrs["checkpoint"]["artifact_id"]
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    summary = tiny_search(trials=4, study="corrupt").run()
    study = _study(tmp_path, "corrupt")
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1 and "sha256 mismatch" in failed[0].user_attrs["fail_reason"]
    assert len(study.get_trials(states=FINISHED)) == 4  # the search went on
    assert summary.best_trial != best.number  # a corrupted model is never exported


def test_pretrained_root_is_grown_not_retrained(tiny_search, tmp_path):
    env = tiny_search().env
    torch.manual_seed(1)
    seed = build_from_spec(env.seed_spec, input_shape=env.data.input_shape, num_classes=10)
    torch.save(seed.state_dict(), tmp_path / "seed.pt")
    summary = tiny_search(
        trials=2,
        study="pre",
        seed_checkpoint=tmp_path / "seed.pt",
        final_train="finetune",
        final_epochs=1,
    ).run()
    root = _study(tmp_path, "pre").trials[0]
    assert root.user_attrs["pretrained"] is True
    assert root.user_attrs["val_acc_before"] == root.value == accuracy64(seed, env.data.val)
    assert summary.timings["trainings"] == 1  # only the child trained (+ the final finetune)
    assert summary.final_train["mode"] == "finetune" and "test_acc" in summary.final_train


def test_nan_loss_prunes_with_reason(tiny_search, tmp_path):
    # plain SGD at 1e30 x the root's lr: the child's loss overflows to inf/NaN at once, whatever
    # the mutation (at 1e12 a widened child's loss stayed finite, ~6e17)
    sgd = TrainOptions(
        budget=Budget(epochs=1), optimizer=torch.optim.SGD, lr=0.1, optimizer_kwargs={},
        progress=False,
    )  # fmt: skip
    tiny_search(train=sgd, trials=2, study="diverge", lr_ratio=[1e30, 1e30]).run()
    child = _study(tmp_path, "diverge").trials[1]
    assert child.state == TrialState.PRUNED
    assert child.user_attrs["prune_reason"].startswith("diverged")


@pytest.mark.parametrize(
    "policy,objective", [("tournament", "accuracy"), ("pareto", "accuracy_vs_size")]
)
def test_parent_policies_and_objectives(tiny_search, tmp_path, policy, objective):
    name = f"{policy}-{objective}"
    summary = tiny_search(
        trials=4, study=name, parent=policy, objective=objective, max_params=20000
    ).run()
    study = _study(tmp_path, name)
    assert len(study.directions) == (2 if objective == "accuracy_vs_size" else 1)
    check_lineage(study)
    assert check_preserved(study) >= 1
    if objective == "accuracy_vs_size":
        assert summary.pareto
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        assert t.user_attrs["params"] <= 20000
