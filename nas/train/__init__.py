"""Training loop and budgets: ``train(model, data, budget=Budget(epochs=5))`` and ``evaluate``."""

from __future__ import annotations

from nas.train.loop import DEFAULT_OPTIMIZER, evaluate, resolve_device, train
from nas.train.results import Budget, EpochRecord, TrainResult

__all__ = [
    "DEFAULT_OPTIMIZER",
    "Budget",
    "EpochRecord",
    "TrainResult",
    "evaluate",
    "resolve_device",
    "train",
]
