"""Small residual networks in 1D and 2D built from BasicBlocks.

Layout: ``stem`` (conv-bn-relu) -> ``blocks`` (flat ``nn.Sequential`` of :class:`BasicBlock`)
-> ``global_pool`` -> ``flatten`` -> ``head``. The first block of every stage after the first
downsamples with ``stride`` and, when the shape changes, a 1x1 conv + BN projection shortcut.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nas.models import _checks
from nas.models.cnn import LAYERS, LAYOUT, classifier, conv_bn_relu
from nas.models.registry import register_model


class BasicBlock(nn.Module):
    """``relu2(bn2(conv2(relu1(bn1(conv1(x))))) + shortcut(x))``.

    ``shortcut`` is None (identity) when shapes match, else a 1x1 conv + BN projection. The
    branch is a fixed chain of modules (no data-dependent control flow), so torch.fx traces it.
    """

    def __init__(self, dim: int, c_in: int, c_out: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        layers = LAYERS[dim]
        pad = kernel_size // 2
        self.conv1 = layers["conv"](c_in, c_out, kernel_size, stride, pad, bias=False)
        self.bn1 = layers["bn"](c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = layers["conv"](c_out, c_out, kernel_size, 1, pad, bias=False)
        self.bn2 = layers["bn"](c_out)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                layers["conv"](c_in, c_out, 1, stride, bias=False), layers["bn"](c_out)
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + identity)


def build_resnet(
    dim: int,
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    widths: Sequence[int],
    blocks: int | Sequence[int],
    kernel_size: int,
    stride: int,
) -> nn.Sequential:
    """Check the options and build the residual classifier (see :func:`resnet1d`)."""
    shape = _checks.input_shape(name, input_shape, dim + 1, LAYOUT[dim])
    widths = _checks.int_list(name, "widths", widths)
    blocks = _checks.per_stage(name, "blocks", blocks, len(widths))
    kernel_size = _checks.odd_kernel(name, kernel_size)
    stride = _checks.positive_int(name, "stride", stride)
    stem = nn.Sequential(*conv_bn_relu(dim, shape[0], widths[0], kernel_size))
    body: list[nn.Module] = []
    c_in = widths[0]
    for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
        for block in range(count):
            s = stride if stage > 0 and block == 0 else 1
            body.append(BasicBlock(dim, c_in, width, kernel_size, s))
            c_in = width
    return classifier(dim, {"stem": stem, "blocks": nn.Sequential(*body)}, c_in, num_classes)


@register_model("resnet1d")
def resnet1d(
    *,
    input_shape: Sequence[int],
    num_classes: int,
    widths: Sequence[int] = (16, 32, 64),
    blocks: int | Sequence[int] = 1,
    kernel_size: int = 3,
    stride: int = 2,
) -> nn.Sequential:
    """Residual net for inputs ``(channels, length)``.

    Args:
        widths: Channels of each stage (the stem has ``widths[0]``).
        blocks: BasicBlocks per stage (one int for all stages, or one per stage).
        kernel_size: Positive odd kernel size of the 3x3-like convs ('same' padding).
        stride: Downsampling of the first block of every stage after the first.
    """
    args = (input_shape, num_classes, widths, blocks, kernel_size, stride)
    return build_resnet(1, "resnet1d", *args)


@register_model("resnet2d")
def resnet2d(
    *,
    input_shape: Sequence[int],
    num_classes: int,
    widths: Sequence[int] = (16, 32, 64),
    blocks: int | Sequence[int] = 1,
    kernel_size: int = 3,
    stride: int = 2,
) -> nn.Sequential:
    """Residual net for images ``(channels, height, width)``; options as :func:`resnet1d`."""
    args = (input_shape, num_classes, widths, blocks, kernel_size, stride)
    return build_resnet(2, "resnet2d", *args)
