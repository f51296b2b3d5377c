"""Small model utilities the loop needs: exact (float64) accuracy and re-initialization."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from nas.net2net.graph import in_mode

__all__ = ["accuracy64", "reinitialize"]


def accuracy64(
    model: nn.Module, loader: Iterable, device: str = "cpu", margin: float = 1e-3
) -> float:
    """Accuracy as a float64 eval-mode copy of ``model`` computes it.

    Used for the told value and for the warm-start check: a Net2Net child computes its parent's
    function up to ~1e-12 in float64, so the two accuracies are *equal*, while float32 rounding
    could flip a near-tie and fake a violation. Only near-ties need float64: one float32 pass
    decides every example whose top-2 logit gap exceeds ``margin`` x max(1, max |logit|)
    (float32 error is ~1e-6 of that scale), and the rest (usually none) are re-run in float64.
    A float64 pass of the whole split would cost 2-3x a float32 one on CPU, far more on GPUs.
    """
    correct = total = 0
    doubtful: list[tuple[torch.Tensor, torch.Tensor]] = []
    with in_mode(model), torch.no_grad():
        for x, y in loader:
            logits = model(x.to(device)).float().cpu()
            pred = logits.argmax(dim=-1)
            if logits.shape[-1] > 1:
                top2 = logits.topk(2, dim=-1).values
                scale = logits.abs().amax(dim=-1).clamp_min(1.0)
                sure = (top2[:, 0] - top2[:, 1]) > margin * scale
            else:
                sure = torch.ones_like(y, dtype=torch.bool)
            correct += int((pred == y)[sure].sum())
            total += int(y.numel())
            if not bool(sure.all()):
                doubtful.append((x[~sure], y[~sure]))
    if doubtful:
        m64 = copy.deepcopy(model).to(device=device, dtype=torch.float64).eval()
        with torch.no_grad():
            for x, y in doubtful:
                pred = m64(x.to(device=device, dtype=torch.float64)).argmax(dim=-1).cpu()
                correct += int((pred == y).sum())
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
