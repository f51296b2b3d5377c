"""Deepening composes with widening, exactly (float64 models: a float32 weight / 3 rounds)."""

from __future__ import annotations

import pytest
import torch
from test_deepen_models import cnn, mlp, randomize_, resnet
from torch import nn

from nas import net2net as widen_mod
from nas.net2net import deepen, depth_points
from nas.net2net.verify import max_abs_diff


def assert_exact(parent: nn.Module, child: nn.Module, x: torch.Tensor) -> None:
    diff, scale = max_abs_diff(parent, child, x)
    assert diff <= 1e-10 * scale


MODELS = {
    "mlp": (lambda: mlp([5, 4]), (3, 6)),
    "cnn1d": (lambda: cnn(1, [3, 4], 3), (2, 1, 12)),
    "cnn2d": (lambda: cnn(2, [3, 4], 3), (2, 1, 6, 6)),
    "resnet1d": (lambda: resnet(1, [3, 4], 1), (2, 1, 12)),
}


def model_and_input(name: str, seed: int) -> tuple[nn.Module, torch.Tensor]:
    build, shape = MODELS[name]
    torch.manual_seed(seed)
    return randomize_(build()).double(), torch.randn(*shape, dtype=torch.float64)


@pytest.mark.parametrize("name", list(MODELS))
def test_deepen_then_widen_every_group_then_deepen_again(name: str) -> None:
    m, x = model_and_input(name, 0)
    points = depth_points(m, x)
    assert points
    for p in points:
        deep = deepen(m, p, example_input=x, seed=0)
        groups = widen_mod.width_groups(deep, x)
        assert groups, p.name
        for g in groups:
            wide = widen_mod.widen(deep, g, 2 * g.width, example_input=x, seed=0)
            assert_exact(m, wide, x)
        wide = widen_mod.widen(deep, groups[0].name, 2 * groups[0].width, example_input=x, seed=0)
        again = depth_points(wide, x)
        assert again, p.name
        for q in again:
            assert_exact(m, deepen(wide, q, example_input=x, seed=0), x)


@pytest.mark.parametrize("name", list(MODELS))
def test_widen_then_deepen_every_point(name: str) -> None:
    m, x = model_and_input(name, 1)
    groups = widen_mod.width_groups(m, x)
    assert groups
    for g in groups:
        wide = widen_mod.widen(m, g, g.width + 3 if name == "mlp" else 2 * g.width,
                               example_input=x, seed=0)  # fmt: skip
        points = depth_points(wide, x)
        assert points
        for p in points:
            assert_exact(m, deepen(wide, p, example_input=x, data=[x], seed=0), x)
