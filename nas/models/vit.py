"""A small Vision Transformer for 1D signals and images: the seed model for growing attention.

Layout: ``patch`` (a conv with stride = kernel = ``patch_size``) -> tokens, a learned ``cls``
token and ``pos`` embedding -> ``blocks`` (a flat ``nn.Sequential`` of pre-norm
:class:`EncoderBlock`) -> ``norm`` -> ``head`` on the class token. Every part Net2Net grows is
here: the residual stream (patch conv, attention, MLP output, class token, position embedding,
every LayerNorm) widens by whole copies of its heads; each MLP's hidden width widens freely; each
block is a depth point (a copy with zeroed output projections is the identity, GELU or not).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nas.models import _checks
from nas.models.cnn import LAYERS, LAYOUT
from nas.models.registry import register_model

__all__ = ["EncoderBlock", "VisionTransformer", "vit"]


class EncoderBlock(nn.Module):
    """``x + attn(ln1(x))`` then ``x + mlp(ln2(x))``, batch first."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = max(1, round(dim * mlp_ratio))
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class VisionTransformer(nn.Module):
    """Patches of a ``(channels, length)`` signal or ``(channels, height, width)`` image."""

    def __init__(self, spatial: int, channels: int, tokens: int, patch_size: int, dim: int,
                 depth: int, heads: int, mlp_ratio: float, num_classes: int) -> None:  # fmt: skip
        super().__init__()
        self.patch = LAYERS[spatial]["conv"](channels, dim, patch_size, patch_size)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*(EncoderBlock(dim, heads, mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)  # (batch, tokens, dim): sizes from the tensor
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1) + self.pos
        t = self.blocks(t)
        return self.head(self.norm(t[:, 0]))


@register_model("vit")
def vit(
    *,
    input_shape: Sequence[int],
    num_classes: int,
    patch_size: int = 4,
    dim: int = 16,
    depth: int = 1,
    heads: int = 2,
    mlp_ratio: float = 2.0,
) -> VisionTransformer:
    """ViT for inputs ``(channels, length)`` or ``(channels, height, width)``.

    Args:
        patch_size: Side of a patch; it must divide the length (or height and width).
        dim: Width of the residual stream; a multiple of ``heads``.
        depth: Number of encoder blocks.
        heads: Attention heads (head_dim = dim / heads).
        mlp_ratio: Hidden width of each MLP relative to ``dim``.
    """
    shape = _checks.input_shape("vit", input_shape, None, f"{LAYOUT[1]} or {LAYOUT[2]}")
    if len(shape) not in (2, 3):
        raise ValueError(f"model vit: input_shape must be {LAYOUT[1]} or {LAYOUT[2]}, got {shape}")
    patch = _checks.positive_int("vit", "patch_size", patch_size)
    if any(s % patch for s in shape[1:]):
        raise ValueError(f"model vit: patch_size {patch} must divide the input sizes {shape[1:]}")
    dim = _checks.positive_int("vit", "dim", dim, minimum=2)
    heads = _checks.positive_int("vit", "heads", heads)
    if dim % heads:
        raise ValueError(f"model vit: dim {dim} must be a multiple of heads {heads}")
    if not isinstance(mlp_ratio, int | float) or mlp_ratio <= 0:
        raise ValueError(f"model vit: mlp_ratio must be a number > 0, got {mlp_ratio!r}")
    tokens = 1
    for s in shape[1:]:
        tokens *= s // patch
    depth = _checks.positive_int("vit", "depth", depth)
    return VisionTransformer(len(shape) - 1, shape[0], tokens, patch, dim, depth, heads,
                             float(mlp_ratio), num_classes)  # fmt: skip
