"""Shrink-and-perturb (Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020).

A warm-started network can end up generalizing worse than the same network trained from
scratch. Their remedy, applied to the warm start before training it further: scale every weight
down and add noise, ``theta <- shrink * theta + perturb * theta_fresh``, where ``theta_fresh``
comes from a freshly initialized copy of the same module (so the noise has each layer's own
initialization scale). Not function-preserving: the student starts below its teacher.
"""

from __future__ import annotations

import torch
from torch import nn

from .graph.clone import clone_module

__all__ = ["shrink_perturb"]


def shrink_perturb(
    model: nn.Module, shrink: float = 0.5, perturb: float = 0.1, *, seed: int | None = None
) -> nn.Module:
    """A copy of ``model`` with every parameter set to ``shrink * p + perturb * p_fresh``.

    Args:
        model: left untouched.
        shrink: factor in [0, 1] on the trained weights (1 keeps them, 0 is a fresh start).
        perturb: >= 0, weight of a fresh initialization (``reset_parameters`` of each module)
            added to them. ``shrink=1, perturb=0`` returns an exact copy.
        seed: seeds the fresh initialization (the global RNG is left as it was).

    Buffers (BatchNorm running statistics) are kept as they are.

    Raises:
        ValueError: ``shrink`` outside [0, 1] or ``perturb`` < 0.
    """
    if not 0.0 <= shrink <= 1.0 or not perturb >= 0.0:
        raise ValueError(
            f"shrink_perturb: shrink must lie in [0, 1] and perturb be >= 0, "
            f"got shrink={shrink!r}, perturb={perturb!r}"
        )
    child = clone_module(model)
    fresh = clone_module(model)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for m in fresh.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
    fresh_params = dict(fresh.named_parameters())
    with torch.no_grad():
        for name, p in child.named_parameters():
            if p.is_floating_point():
                p.mul_(shrink).add_(fresh_params[name], alpha=perturb)
    return child
