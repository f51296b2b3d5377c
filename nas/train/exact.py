"""Exact accuracy: float32 passes, with float64 only where the top two logits nearly tie.

A Net2Net child computes its parent's function up to ~1e-12 in float64, so the two accuracies
are *equal*, while float32 rounding could flip a near-tie and fake a difference. Only near-ties
need float64: a float32 pass decides every example whose top-2 logit gap exceeds ``margin`` x
max(1, max |logit|) (float32 error is ~1e-6 of that scale), and the rest (usually none) are re-run
in a float64 copy of the model. A float64 pass of the whole split would cost 2-3x a float32 one
on CPU, far more on GPUs.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

MARGIN = 1e-3


class ExactCounter:
    """Counts correct predictions batch by batch; near-ties are decided in float64 at the end."""

    def __init__(self, margin: float = MARGIN) -> None:
        self.margin = margin
        self.correct = 0
        self.total = 0
        self.doubtful: list[tuple[torch.Tensor, torch.Tensor]] = []

    def add(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> None:
        """One batch: float32 ``logits`` of inputs ``x`` with labels ``y``."""
        logits = logits.float()
        pred = logits.argmax(dim=-1)
        if logits.shape[-1] > 1:
            top2 = logits.topk(2, dim=-1).values
            scale = logits.abs().amax(dim=-1).clamp_min(1.0)
            sure = (top2[:, 0] - top2[:, 1]) > self.margin * scale
        else:
            sure = torch.ones_like(y, dtype=torch.bool)
        self.correct += int((pred == y)[sure].sum())
        self.total += int(y.numel())
        if not bool(sure.all()):
            self.doubtful.append((x[~sure], y[~sure]))

    def accuracy(self, model: nn.Module) -> float:
        """The accuracy, after re-deciding the near-ties with a float64 eval-mode copy of ``model``."""
        correct = self.correct
        if self.doubtful:
            m64 = copy.deepcopy(model).to(dtype=torch.float64).eval()
            with torch.no_grad():
                for x, y in self.doubtful:
                    pred = m64(x.to(dtype=torch.float64)).argmax(dim=-1)
                    correct += int((pred == y).sum())
        return correct / max(self.total, 1)
