"""Small model utilities the loop needs: exact (float64) accuracy and re-initialization."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["accuracy64", "reinitialize"]


def accuracy64(model: nn.Module, loader: Iterable, device: str = "cpu") -> float:
    """Accuracy of a float64 eval-mode copy of ``model``.

    Used for the told value and for the warm-start check: a Net2Net child computes its parent's
    function up to ~1e-12 in float64, so the two accuracies are *equal*, while float32 rounding
    could flip a near-tie and fake a violation.
    """
    m = copy.deepcopy(model).to(device=device, dtype=torch.float64).eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            x = x.to(device=device, dtype=torch.float64)
            pred = m(x).argmax(dim=-1).cpu()
            correct += int((pred == y).sum())
            total += int(y.numel())
    return correct / max(total, 1)


def reinitialize(model: nn.Module, seed: int) -> nn.Module:
    """Random init of every module that knows how (scratch mode: same architecture, no warm start)."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for mod in model.modules():
            reset = getattr(mod, "reset_parameters", None)
            if callable(reset):
                reset()
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.reset_running_stats()
    finally:
        torch.random.set_rng_state(gen_state)
    return model
