"""The training loop: budgets, the val curve, determinism, divergence, callbacks, optimizer state."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from nas.data import DataBundle, mnist1d
from nas.models import create_model
from nas.train import Budget, EpochRecord, evaluate, resolve_device, train


@pytest.fixture(scope="module")
def data() -> DataBundle:
    return mnist1d(n_samples=600, batch_size=64, seed=0)  # 486 train -> 8 batches an epoch


def _model(seed: int = 0, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("cnn1d", input_shape=(1, 40), num_classes=10, widths=[8, 8], **kwargs)


def _run(data: DataBundle, budget: Budget, **kwargs: object):
    kwargs.setdefault("progress", False)
    return train(_model(), data, budget=budget, device="cpu", **kwargs)


def _without_time(curve: list[EpochRecord]) -> list[dict]:
    return [{k: v for k, v in dataclasses.asdict(r).items() if k != "seconds"} for r in curve]


def test_epoch_budget_and_curve(data: DataBundle) -> None:
    result = _run(data, Budget(epochs=3))
    batches = len(data.train)
    assert result.status == "completed" and "budget" in result.message
    assert [r.epoch for r in result.curve] == [1, 2, 3]
    assert [r.step for r in result.curve] == [batches, 2 * batches, 3 * batches]
    assert result.steps == 3 * batches
    assert result.final_val_acc == result.curve[-1].val_acc
    assert result.best_val_acc == max(r.val_acc for r in result.curve)
    assert all(0 <= r.val_acc <= 1 and math.isfinite(r.train_loss) for r in result.curve)
    assert result.curve[-1].train_loss < result.curve[0].train_loss
    assert 0 < result.compute_seconds <= result.seconds


def test_step_budget_ends_mid_epoch_with_a_record(data: DataBundle) -> None:
    result = _run(data, Budget(epochs=10, steps=len(data.train) + 3))
    assert result.steps == len(data.train) + 3
    assert [r.step for r in result.curve] == [len(data.train), len(data.train) + 3]


def test_seconds_budget(data: DataBundle) -> None:
    result = _run(data, Budget(seconds=0.5))
    assert result.status == "completed" and result.steps > 0 and result.curve
    assert 0.5 <= result.seconds < 5.0  # one step + one evaluation past the limit at most


def test_first_limit_wins(data: DataBundle) -> None:
    assert _run(data, Budget(epochs=1, steps=1000, seconds=60)).steps == len(data.train)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"steps": -1}, "steps"),
        ({"seconds": 0.0}, "seconds"),
        ({"epochs": 1.5}, "epochs"),
        ({"seconds": float("inf")}, "seconds"),
        ({}, "at least one"),
    ],
)
def test_bad_budget(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Budget(**kwargs)


def test_same_seed_same_curve(data: DataBundle) -> None:
    first = _run(data, Budget(epochs=2), seed=3)
    second = _run(data, Budget(epochs=2), seed=3)
    other = _run(data, Budget(epochs=2), seed=4)
    assert _without_time(first.curve) == _without_time(second.curve)
    assert _without_time(first.curve) != _without_time(other.curve)


def test_huge_learning_rate_diverges(data: DataBundle) -> None:
    opt = functools.partial(torch.optim.SGD, lr=1e30)
    result = _run(data, Budget(epochs=3), optimizer=opt)
    assert result.status == "diverged"
    assert "lower the learning rate" in result.message and "\n" not in result.message


def test_inf_input_diverges_before_the_step(data: DataBundle) -> None:
    x = torch.full((32, 1, 40), float("inf"))
    loader = DataLoader(TensorDataset(x, torch.zeros(32, dtype=torch.int64)), batch_size=16)
    bad = dataclasses.replace(data, train=loader)
    model = _model()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    result = train(model, bad, budget=Budget(epochs=2), progress=False)
    assert result.status == "diverged" and result.steps == 0 and result.curve == []
    assert result.best_val_acc == result.final_val_acc == 0.0
    assert "step 1" in result.message
    assert all(torch.equal(before[k], v) for k, v in model.named_parameters())  # no NaN step


def test_on_epoch_stops_the_run(data: DataBundle) -> None:
    seen: list[EpochRecord] = []

    def stop_after_two(record: EpochRecord) -> bool:
        seen.append(record)
        return record.epoch == 2

    result = _run(data, Budget(epochs=5), on_epoch=stop_after_two)
    assert result.status == "stopped" and len(result.curve) == 2 and seen == result.curve


def test_on_epoch_stops_on_a_numpy_bool(data: DataBundle) -> None:
    """Optuna's median / percentile pruners answer numpy.bool_: that must stop a run too."""
    result = _run(data, Budget(epochs=5), on_epoch=lambda r: np.float64(r.epoch) >= 2)
    assert result.status == "stopped" and len(result.curve) == 2


def test_scheduler_steps_once_per_epoch(data: DataBundle) -> None:
    def sched(opt: torch.optim.Optimizer, length: int) -> Any:
        assert length == 4  # sized in epochs
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=length)

    opt = functools.partial(torch.optim.AdamW, lr=0.01)
    result = _run(data, Budget(epochs=4), optimizer=opt, scheduler=sched)
    lrs = [r.lr for r in result.curve]
    assert lrs[0] == pytest.approx(0.01) and lrs == sorted(lrs, reverse=True) and lrs[-1] > 0


def test_optimizer_state_is_loaded_with_configured_hyperparameters(data: DataBundle) -> None:
    first = _run(data, Budget(epochs=1), optimizer=functools.partial(torch.optim.AdamW, lr=1e-3))
    state = first.optimizer_state
    assert state is not None and state["state"]  # Adam moments
    opt = functools.partial(torch.optim.AdamW, lr=2e-3)
    second = _run(data, Budget(epochs=1), optimizer=opt, optimizer_state=state)
    assert second.curve[0].lr == pytest.approx(2e-3)
    other = create_model("mlp", input_shape=(1, 40), num_classes=10, hidden=[4])
    with pytest.raises(ValueError, match="optimizer_state"):
        train(other, data, budget=Budget(epochs=1), progress=False, optimizer_state=state)


def test_evaluate_restores_mode(data: DataBundle) -> None:
    model = _model().train()
    loss, acc = evaluate(model, data.val)
    assert model.training and loss > 0 and 0 <= acc <= 1


def test_progress_display_runs(data: DataBundle) -> None:
    assert _run(data, Budget(steps=2), progress=True).steps == 2


def test_devices() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_bad_arguments(data: DataBundle) -> None:
    with pytest.raises(ValueError, match="budget"):
        train(_model(), data, budget={"epochs": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="optimizer"):
        train(_model(), data, budget=Budget(epochs=1), optimizer="adam")  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("amp", [True, False])
def test_cuda_amp_channels_last(amp: bool) -> None:
    digits = __import__("nas.data", fromlist=["digits"]).digits(batch_size=64)
    torch.manual_seed(0)
    model = create_model("cnn2d", input_shape=(1, 8, 8), num_classes=10)
    result = train(model, digits, budget=Budget(epochs=8), device="cuda", amp=amp, progress=False)
    assert result.status == "completed" and result.final_val_acc > 0.9  # CPU: 0.958


def test_per_step_schedule_anneals_within_one_epoch(data: DataBundle) -> None:
    lengths: list[int] = []

    def cosine(opt: torch.optim.Optimizer, length: int) -> Any:
        lengths.append(length)
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=length)

    model = _model()
    opt = functools.partial(torch.optim.AdamW, lr=0.01)
    result = train(
        model, data, budget=Budget(epochs=1), optimizer=opt, scheduler=cosine,
        scheduler_interval="step", device="cpu", progress=False,
    )  # fmt: skip
    assert lengths == [len(data.train)]  # one epoch = 8 optimizer steps
    final_lr = result.optimizer_state["param_groups"][0]["lr"]
    assert result.curve[0].lr == pytest.approx(0.01) and final_lr == pytest.approx(0.0, abs=1e-12)
    capped = _run(data, Budget(epochs=3, steps=5), optimizer=opt, scheduler=cosine,
                  scheduler_interval="step")  # fmt: skip
    assert lengths[-1] == 5 and capped.steps == 5


@pytest.mark.parametrize(
    ("budget", "interval", "match"),
    [
        (Budget(seconds=1.0), "epoch", "per-epoch scheduler needs an epoch budget"),
        (Budget(seconds=1.0), "step", "per-step scheduler needs budget.steps"),
        (Budget(epochs=1), "batch", "scheduler_interval must be one of"),
    ],
)
def test_unsized_schedule_is_refused(
    data: DataBundle, budget: Budget, interval: str, match: str
) -> None:
    cosine = functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR)
    with pytest.raises(ValueError, match=match):
        _run(data, budget, scheduler=cosine, scheduler_interval=interval)
