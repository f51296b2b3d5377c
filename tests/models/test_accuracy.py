"""The default model under the default train config reaches >= 90% test accuracy on mnist1d.

Model configs are read with ``yaml.safe_load`` (this layer does not need Hydra); the training
options are ``TrainOptions()``, whose defaults mirror ``conf/train/default.yaml`` (checked in
tests/cli/test_configs.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from nas.data import mnist1d
from nas.models import create_model
from nas.train import TrainOptions, evaluate, train

CONF = Path(__file__).resolve().parents[2] / "conf"


def _test_accuracy(model_file: str) -> float:
    model_cfg = yaml.safe_load((CONF / "model" / model_file).read_text())
    assert model_cfg.pop("_target_") == "nas.models.create_model"
    options = TrainOptions(device="cpu", progress=False)  # = conf/train/default.yaml
    data = mnist1d(seed=0)
    torch.manual_seed(0)
    model = create_model(
        model_cfg.pop("name"), input_shape=data.input_shape, num_classes=10, **model_cfg
    )
    result = train(model, data, seed=0, **options.train_kwargs())
    assert result.status == "completed" and len(result.curve) == options.budget.epochs
    return evaluate(model, data.test)[1]


@pytest.mark.slow
def test_default_cnn1d_reaches_90_percent_on_mnist1d() -> None:
    assert _test_accuracy("cnn1d.yaml") >= 0.90  # measured 0.96-0.98 over seeds


@pytest.mark.slow
def test_small_seed_leaves_room_to_grow() -> None:
    assert _test_accuracy("cnn1d_small.yaml") < 0.85  # measured 0.78-0.84 over seeds
