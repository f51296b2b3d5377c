"""Module-type tables the analyses share (one home for each)."""

from __future__ import annotations

from torch import nn

__all__ = ["CONVS", "CONV_TRANSPOSES", "PLAIN_CONVS", "WEIGHT_LAYERS"]

#: convolutions that map ``in_channels`` to ``out_channels`` with a sliding kernel
PLAIN_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
CONV_TRANSPOSES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
CONVS = PLAIN_CONVS + CONV_TRANSPOSES
#: layers that count towards a model's depth
WEIGHT_LAYERS = (nn.Linear, *CONVS, nn.MultiheadAttention, nn.Embedding)
