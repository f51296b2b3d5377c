"""Symmetry breaking, shared by widen and deepen: seeded Gaussian noise on the new weights.

Exact replicas get identical gradients forever, and an identity block's weights start far from
what training would find; a little noise (relative to the weights' scale) sets them apart, at
the price of exactness. The transforms check themselves before adding it.
"""

from __future__ import annotations

import torch

__all__ = ["add_noise"]


def add_noise(
    t: torch.Tensor,
    std: float,
    gen: torch.Generator | None,
    where: torch.Tensor | None = None,
) -> None:
    """``t += std * N(0, 1)`` in place, drawn in float64 from ``gen`` (None: torch's global
    generator) and rounded once to ``t``'s dtype; only where the mask ``where`` (broadcast
    against ``t``) is set, when given."""
    with torch.no_grad():
        eps = torch.randn(t.shape, generator=gen, dtype=torch.float64)
        step = (std * eps).to(device=t.device, dtype=t.dtype)
        t.add_(step if where is None else step * where.to(t.device))
