"""FLOPs of one forward pass, counted by torch's own FlopCounterMode (no home-made op table)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nas.net2net.graph import call_model, in_mode

__all__ = ["count_flops", "count_params"]


def count_flops(model: nn.Module, example_input: torch.Tensor) -> int:
    """FLOPs for one example (batch of 1) in eval mode; the model's mode is restored."""
    x = example_input[:1]
    with in_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        call_model(model, x)  # on the model's device
    return int(counter.get_total_flops())


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters (the size objective)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
