"""Small model utilities the loop needs: exact (float64) accuracy and re-initialization."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from nas.train import evaluate

__all__ = ["accuracy64", "reinitialize"]


def accuracy64(model: nn.Module, loader: Iterable, device: str | None = None) -> float:
    """Accuracy as a float64 eval-mode copy of ``model`` computes it (``nas.train.exact``), on
    ``device`` (default: where the model's parameters are).

    Used for the told value and for the warm-start check: a Net2Net child's accuracy *equals*
    its parent's, where float32 rounding could flip a near-tie and fake a violation.
    """
    if device is None:
        device = str(next(model.parameters(), torch.empty(0)).device)
    return evaluate(model, loader, device, exact=True)[1]


def reinitialize(model: nn.Module, seed: int) -> nn.Module:
    """Random init of every module that knows how (scratch mode: same architecture, no warm start).
    The global generators (CPU and CUDA) are left as they were."""
    cuda = range(torch.cuda.device_count()) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        for mod in model.modules():
            reset = getattr(mod, "reset_parameters", None)
            if callable(reset):
                reset()
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.reset_running_stats()
    return model
