"""Small pieces of the search on their own: config validation, parent policies, checkpoints."""

from __future__ import annotations

import copy
import hashlib

import optuna
import pytest
import torch
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from nas.search.candidate import CheckpointError, load_state_dict, save_checkpoint
from nas.search.config import SearchConfig, SearchConfigError
from nas.search.lineage import best_so_far, lineage_path, lineage_rows, lineage_tree
from nas.search.metrics import accuracy64, reinitialize
from nas.search.parents import choose_parent, pareto_front
from nas.search.storage import artifact_store, open_storage, recover_stale


@pytest.mark.parametrize(
    "values,field",
    [
        ({"mutations": ["widen", "shrink"]}, "search.mutations: unknown mutation 'shrink'"),
        ({"mutations": ["train"], "warm_start": False}, "search.mutations: train continues"),
        ({"train_epochs": 3}, "search.train_epochs: 3 is a train step's budget"),
        ({"mutations": ["train"], "train_epochs": 0}, "search.train_epochs"),
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


def _float64_reference(model: torch.nn.Module, batches: list) -> float:
    m = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        hits = [(m(x.double()).argmax(-1) == y).sum().item() for x, y in batches]
    return sum(hits) / sum(len(y) for _, y in batches)


def test_accuracy64_equals_a_float64_pass_on_real_models():
    """Trained-ish and random nets, BN in eval mode, training flags restored."""
    from nas.data import mnist1d
    from nas.models import create_model

    val = list(mnist1d(n_samples=1000, seed=3).val)
    for seed in range(3):
        torch.manual_seed(seed)
        model = create_model("cnn1d", input_shape=(1, 40), num_classes=10, widths=[8, 16])
        model.train()
        with torch.no_grad():  # move the BN running statistics away from their init
            for x, _ in val:
                model(x)
        assert accuracy64(model, val) == _float64_reference(model, val)
        assert all(m.training for m in model.modules())


def test_accuracy64_decides_float32_near_ties_in_float64():
    """Logits 1 and 1 + 1e-9 are equal in float32 (argmax 0) but not in float64 (argmax 1)."""
    model = torch.nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 1e-9], [0.0, 0.0]]))
    x = torch.tensor([[1.0, 1.0]] * 4 + [[0.0, -1.0]] * 4)
    y = torch.tensor([1] * 4 + [0] * 4)  # the second half: logits 0, -1e-9, 0 -> a tie at 0
    batches = [(x, y)]
    assert model(x[:1]).argmax().item() == 0  # float32 alone would get the first half wrong
    assert accuracy64(model, batches) == _float64_reference(model, batches) == 1.0


def test_mutation_record_round_trips_and_refuses_foreign_records() -> None:
    from nas.search.mutation import Mutation, format_mutation

    step = Mutation(
        "widen", "features.0", seed=3, width=16, old_width=8, factor=2.0, split="uneven"
    )
    stored = step.to_json()
    assert "kind" not in stored and stored["split"] == "uneven"  # None fields are left out
    assert Mutation.from_json(stored) == step and Mutation.from_json(step) is step
    assert step.key() == ("widen", "features.0", 16)
    deep = Mutation("deepen", "features.3", kind="relu")
    assert (
        format_mutation([deep.to_json(), stored]) == "deepen features.3; widen features.0 x2 (16)"
    )
    assert format_mutation([]) == "seed"
    fresh = Mutation("widen", "features.0", width=16, factor=2.0, init="zero_out")
    assert fresh.describe() == "widen features.0 x2 (16) zero_out"
    assert Mutation.from_json(fresh.to_json()) == fresh
    train = Mutation("train", "")
    assert Mutation.from_json(train.to_json()) == train and train.key() == ("train", "", None)
    assert format_mutation([train.to_json()]) == "train"
    bad_records = (
        {"op": "shrink", "target": "a"},
        {"op": "widen", "target": "a", "w": 2},
        {"x": 1},
        {"op": "widen", "target": "a", "init": "copy"},
    )
    for bad in bad_records:
        with pytest.raises(ValueError):
            Mutation.from_json(bad)


@pytest.mark.parametrize("model_name", ["cnn1d", "vit"])
def test_propose_leaves_the_parent_as_it_was(model_name):
    """The loop hands its cached teacher to propose without a copy: every widen / deepen
    builds a new child and the teacher's values, parameters and flags stay as they were."""
    from nas.models import create_model
    from nas.search.space import propose

    torch.manual_seed(0)
    teacher = create_model(model_name, input_shape=(1, 40), num_classes=10).train()
    example = torch.randn(8, 1, 40)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    flags = [m.training for m in teacher.modules()]
    attrs = [dict(vars(m)) for m in teacher.modules()]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    ops = set()
    for n in range(6):
        trial = study.ask()
        child, records, _ = propose(
            trial, teacher, example, mutations=["widen", "deepen"], widen_factors=[2.0],
            max_ops=2, noise=0.0, seed=n, data=[example],
        )  # fmt: skip
        ops |= {r["op"] for r in records}
        assert child is not teacher
        assert not set(map(id, child.parameters())) & set(map(id, teacher.parameters()))
    assert ops == {"widen", "deepen"}  # both kinds of transform ran
    after = teacher.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [m.training for m in teacher.modules()] == flags
    assert [set(vars(m)) for m in teacher.modules()] == [set(a) for a in attrs]


def test_train_step_is_a_copy_of_the_parent_with_its_optimizer_state() -> None:
    """A train child computes what its parent computes, shares no tensor with it (the cached
    teacher is never trained in place), and its Adam moments are the parent's, copied."""
    from nas.models import create_model
    from nas.search.space import propose, replay

    torch.manual_seed(0)
    teacher = create_model("cnn1d", input_shape=(1, 40), num_classes=10)
    example = torch.randn(8, 1, 40)
    opt = torch.optim.AdamW(teacher.parameters(), lr=0.01)
    teacher(example).logsumexp(1).mean().backward()
    opt.step()
    state = opt.state_dict()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    child, records, grown = propose(
        study.ask(), teacher, example, mutations=["train"], widen_factors=[2.0], max_ops=2,
        noise=0.0, seed=0, optimizer_state=state,
    )  # fmt: skip
    assert [r["op"] for r in records] == ["train"]
    assert child is not teacher
    assert not set(map(id, child.parameters())) & set(map(id, teacher.parameters()))
    teacher.eval(), child.eval()
    assert torch.equal(child(example), teacher(example))
    moments = [s["exp_avg"] for s in state["state"].values()]
    copied = [s["exp_avg"] for s in grown["state"].values()]
    assert len(copied) == len(moments) > 0
    for a, b in zip(moments, copied, strict=True):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    rebuilt = replay(create_model("cnn1d", input_shape=(1, 40), num_classes=10), records, example)
    assert rebuilt.state_dict().keys() == teacher.state_dict().keys()


def test_train_is_offered_as_the_first_step_only() -> None:
    """With train among the mutations, a sequence is either [train] or growth steps only."""
    from nas.models import create_model
    from nas.search.space import propose

    torch.manual_seed(0)
    teacher = create_model("cnn1d", input_shape=(1, 40), num_classes=10)
    example = torch.randn(8, 1, 40)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    for n in range(12):
        _, records, _ = propose(
            study.ask(), teacher, example, mutations=["widen", "deepen", "train"],
            widen_factors=[2.0], max_ops=2, noise=0.0, seed=n, data=[example],
        )  # fmt: skip
        ops = [r["op"] for r in records]
        assert ops == ["train"] or "train" not in ops, ops
        seen.append(ops)
    assert ["train"] in seen and any(len(ops) == 2 for ops in seen), seen


def test_reinitialize_is_seeded_and_leaves_the_global_generator_alone() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    trained = [p.detach().clone() for p in model.parameters()]
    state = torch.random.get_rng_state()
    first = [p.detach().clone() for p in reinitialize(model, 5).parameters()]
    assert torch.equal(state, torch.random.get_rng_state())
    assert not torch.equal(first[0], trained[0])  # the weights were drawn again
    second = [p.detach().clone() for p in reinitialize(model, 5).parameters()]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
