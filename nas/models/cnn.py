"""Plain Conv-BN-ReLU stacks in 1D and 2D: ``features`` -> global average pool -> ``head``.

Module names are stable: ``features.<i>`` is a flat ``nn.Sequential`` (conv, bn, relu, ...,
with an optional pool between stages), then ``global_pool``, ``flatten`` and ``head``. Every
ReLU is its own module, called once, so Net2Net deepening finds the points after them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from torch import nn

from nas.models import _checks
from nas.models.registry import register_model

LAYERS: dict[int, dict[str, Any]] = {
    1: {
        "conv": nn.Conv1d,
        "bn": nn.BatchNorm1d,
        "max": nn.MaxPool1d,
        "avg": nn.AvgPool1d,
        "gap": nn.AdaptiveAvgPool1d,
    },
    2: {
        "conv": nn.Conv2d,
        "bn": nn.BatchNorm2d,
        "max": nn.MaxPool2d,
        "avg": nn.AvgPool2d,
        "gap": nn.AdaptiveAvgPool2d,
    },
}
LAYOUT = {1: "[channels, length]", 2: "[channels, height, width]"}
POOLS = (None, "max", "avg")


def conv_bn_relu(dim: int, c_in: int, c_out: int, kernel_size: int, stride: int = 1) -> list:
    """``[conv (no bias, 'same' padding), batch norm, ReLU]`` for ``dim`` spatial dims."""
    layers = LAYERS[dim]
    conv = layers["conv"](c_in, c_out, kernel_size, stride, kernel_size // 2, bias=False)
    return [conv, layers["bn"](c_out), nn.ReLU()]


def classifier(dim: int, body: dict[str, nn.Module], width: int, num_classes: int) -> nn.Sequential:
    """``body`` (named parts, in order) then ``global_pool``, ``flatten`` and a Linear ``head``."""
    return nn.Sequential(
        OrderedDict(
            **body,
            global_pool=LAYERS[dim]["gap"](1),
            flatten=nn.Flatten(1),
            head=nn.Linear(width, num_classes),
        )
    )


def build_cnn(
    dim: int,
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    widths: Sequence[int],
    blocks: int | Sequence[int],
    kernel_size: int,
    stride: int,
    pool: str | None,
) -> nn.Sequential:
    """Check the options and build the Conv-BN-ReLU classifier (see :func:`cnn1d`)."""
    shape = _checks.input_shape(name, input_shape, dim + 1, LAYOUT[dim])
    widths = _checks.int_list(name, "widths", widths)
    blocks = _checks.per_stage(name, "blocks", blocks, len(widths))
    kernel_size = _checks.odd_kernel(name, kernel_size)
    stride = _checks.positive_int(name, "stride", stride)
    pool = _checks.choice(name, "pool", pool, POOLS)
    layers: list[nn.Module] = []
    c_in = shape[0]
    for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
        if stage > 0 and pool is not None:
            layers.append(LAYERS[dim][pool](2, ceil_mode=True))
        for block in range(count):
            s = stride if stage > 0 and block == 0 else 1
            layers += conv_bn_relu(dim, c_in, width, kernel_size, s)
            c_in = width
    return classifier(dim, {"features": nn.Sequential(*layers)}, c_in, num_classes)


@register_model("cnn1d")
def cnn1d(
    *,
    input_shape: Sequence[int],
    num_classes: int,
    widths: Sequence[int] = (32, 32, 32),
    blocks: int | Sequence[int] = 1,
    kernel_size: int = 5,
    stride: int = 1,
    pool: str | None = None,
) -> nn.Sequential:
    """1D Conv-BN-ReLU stack for inputs ``(channels, length)``.

    Args:
        widths: Output channels of each stage.
        blocks: Conv-BN-ReLU blocks per stage (one int for all stages, or one per stage).
        kernel_size: Positive odd kernel size ('same' padding).
        stride: Stride of the first conv of every stage after the first (1 keeps the length).
        pool: ``"max"`` / ``"avg"`` pooling (kernel 2) between stages, or None.
    """
    args = (input_shape, num_classes, widths, blocks, kernel_size, stride, pool)
    return build_cnn(1, "cnn1d", *args)


@register_model("cnn2d")
def cnn2d(
    *,
    input_shape: Sequence[int],
    num_classes: int,
    widths: Sequence[int] = (32, 64),
    blocks: int | Sequence[int] = 1,
    kernel_size: int = 3,
    stride: int = 1,
    pool: str | None = "max",
) -> nn.Sequential:
    """2D Conv-BN-ReLU stack for images ``(channels, height, width)``; options as :func:`cnn1d`."""
    args = (input_shape, num_classes, widths, blocks, kernel_size, stride, pool)
    return build_cnn(2, "cnn2d", *args)
