"""Training loop and budgets: ``train(model, data, budget=Budget(epochs=5))`` and ``evaluate``.

The names are imported on first use, so ``nas.train.threads`` can set OpenMP's environment
before anything here imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas.train.loop import DEFAULT_OPTIMIZER, evaluate, resolve_device, train
    from nas.train.results import Budget, EpochRecord, TrainResult

_HOME = {
    "DEFAULT_OPTIMIZER": "nas.train.loop",
    "evaluate": "nas.train.loop",
    "resolve_device": "nas.train.loop",
    "train": "nas.train.loop",
    "Budget": "nas.train.results",
    "EpochRecord": "nas.train.results",
    "TrainResult": "nas.train.results",
}

__all__ = [
    "DEFAULT_OPTIMIZER",
    "Budget",
    "EpochRecord",
    "TrainResult",
    "evaluate",
    "resolve_device",
    "train",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'nas.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value
