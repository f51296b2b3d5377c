"""Training loop and budgets: ``train(model, data, budget=Budget(epochs=5))`` and ``evaluate``.

``TrainOptions`` bundles optimizer, learning rate, budget and schedule as one value:
``train(model, data, seed=0, **TrainOptions(lr=0.01).train_kwargs())``.
"""

from __future__ import annotations

from nas.train.curves import epochs_to_target, time_to_target
from nas.train.loop import DEFAULT_OPTIMIZER, evaluate, resolve_device, train
from nas.train.options import TrainOptions, cosine_schedule
from nas.train.results import Budget, EpochRecord, TrainResult

__all__ = [
    "DEFAULT_OPTIMIZER",
    "Budget",
    "EpochRecord",
    "TrainOptions",
    "TrainResult",
    "cosine_schedule",
    "epochs_to_target",
    "evaluate",
    "resolve_device",
    "time_to_target",
    "train",
]
