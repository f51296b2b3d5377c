"""Property tests: every listed depth point of random small architectures deepens exactly."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_deepen_models import cnn, mlp, randomize_, resnet, transformer
from torch import nn

from nas.net2net import deepen, depth_points
from nas.net2net.verify import max_abs_diff

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True, database=None)


def check_every_point(model: nn.Module, x: torch.Tensor, kinds: set[str], data=None) -> None:
    """Deepen at every point: float64 rel error <= 1e-10, float32 <= 1e-5, kinds as expected."""
    points = depth_points(model, x)
    assert points, "expected at least one depth point"
    assert {p.kind for p in points} <= kinds
    for p in points:
        child = deepen(model, p, example_input=x, data=data, seed=0)
        assert type(child) is type(model)
        diff, scale = max_abs_diff(model, child, x)
        assert diff <= 1e-10 * scale, (p.name, diff, scale)
        diff32, scale32 = max_abs_diff(model, child, x, dtype=None)
        assert diff32 <= 1e-5 * scale32, (p.name, diff32)


widths = st.lists(st.integers(1, 7), min_size=1, max_size=3)


@SETTINGS
@given(widths=widths, seed=st.integers(0, 2**16))
def test_random_mlps(widths: list[int], seed: int) -> None:
    torch.manual_seed(seed)
    m = randomize_(mlp(widths), seed)
    check_every_point(m, torch.randn(5, 6), {"linear"})
    assert len(depth_points(m, torch.randn(5, 6))) == len(widths)


@SETTINGS
@given(
    dim=st.sampled_from([1, 2]),
    widths=widths,
    kernel=st.sampled_from([1, 3, 5]),
    with_data=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_conv_bn_relu_nets(
    dim: int, widths: list[int], kernel: int, with_data: bool, seed: int
) -> None:
    torch.manual_seed(seed)
    m = randomize_(cnn(dim, widths, kernel), seed)
    x = torch.randn(3, 1, *([9] * dim))
    data = [torch.randn(6, 1, *([9] * dim)) * 2 for _ in range(2)] if with_data else None
    check_every_point(m, x, {"conv"}, data)


@SETTINGS
@given(
    dim=st.sampled_from([1, 2]),
    widths=st.lists(st.integers(2, 6), min_size=1, max_size=3),
    blocks=st.integers(1, 2),
    pre_act=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_residual_nets(
    dim: int, widths: list[int], blocks: int, pre_act: bool, seed: int
) -> None:
    torch.manual_seed(seed)
    m = randomize_(resnet(dim, widths, blocks, pre_act), seed)
    x = torch.randn(2, 1, *([8] * dim))
    check_every_point(m, x, {"conv", "residual"})
    residual = [p for p in depth_points(m, x) if p.kind == "residual"]
    assert len(residual) == len(widths) * blocks  # every block, downsampling ones included


@SETTINGS
@given(
    heads=st.sampled_from([1, 2]),
    head_dim=st.integers(2, 4),
    layers=st.integers(1, 3),
    builtin=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_pre_norm_transformers(
    heads: int, head_dim: int, layers: int, builtin: bool, seed: int
) -> None:
    torch.manual_seed(seed)
    t = transformer(heads * head_dim, heads, layers, builtin)
    x = torch.randn(2, 4, 5)
    check_every_point(t, x, {"transformer"})
    assert len(depth_points(t, x)) == layers
