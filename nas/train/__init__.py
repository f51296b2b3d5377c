"""Training loop and budgets: ``train(model, data, budget=Budget(epochs=5))`` and ``evaluate``.

``TrainOptions`` bundles optimizer, learning rate, budget and schedule as one value:
``train(model, data, seed=0, **TrainOptions(lr=0.01).train_kwargs())``.

The names are imported on first use, so ``nas.train.threads`` can set OpenMP's environment
before anything here imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas.train.curves import epochs_to_target, time_to_target
    from nas.train.loop import DEFAULT_OPTIMIZER, evaluate, resolve_device, train
    from nas.train.options import TrainOptions, cosine_schedule
    from nas.train.results import Budget, EpochRecord, TrainResult

_HOME = {
    "epochs_to_target": "nas.train.curves",
    "time_to_target": "nas.train.curves",
    "DEFAULT_OPTIMIZER": "nas.train.loop",
    "evaluate": "nas.train.loop",
    "resolve_device": "nas.train.loop",
    "train": "nas.train.loop",
    "TrainOptions": "nas.train.options",
    "cosine_schedule": "nas.train.options",
    "Budget": "nas.train.results",
    "EpochRecord": "nas.train.results",
    "TrainResult": "nas.train.results",
}

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


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'nas.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value
