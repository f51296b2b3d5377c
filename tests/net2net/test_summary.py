"""Summaries: architecture() is JSON-able and right; describe_change() names what a deepen did."""

from __future__ import annotations

import json

import torch
import torchvision
from test_deepen_models import cnn, randomize_

from nas.net2net import deepen
from nas.net2net.summary import architecture, describe_change, summarize


def test_architecture_of_a_cnn() -> None:
    m = cnn(2, [4, 6], 3)
    x = torch.randn(2, 1, 8, 8)
    arch = json.loads(json.dumps(architecture(m, x)))
    assert arch["params"] == sum(p.numel() for p in m.parameters())
    assert (arch["depth"], arch["weight_layers"]) == (3, 3)
    assert [(r["name"], r["type"], r["in"], r["out"]) for r in arch["layers"]] == [
        ("0", "Conv2d", 1, 4),
        ("1", "BatchNorm2d", 4, 4),
        ("3", "Conv2d", 4, 6),
        ("4", "BatchNorm2d", 6, 6),
        ("8", "Linear", 6, 3),
    ]
    assert arch["layers"][0]["kernel"] == [3, 3]
    text = summarize(m, x)
    assert "303 parameters, depth 3" in text and "Conv2d 3x3" in text and "4 -> 6" in text


def test_resnet18_depth_counts_the_longest_path() -> None:
    r = torchvision.models.resnet18(num_classes=4)
    arch = architecture(r, torch.randn(1, 3, 32, 32))
    assert arch["depth"] == 18  # the downsample 1x1 convs are on shorter paths
    assert arch["weight_layers"] == 21


def test_describe_change_after_conv_and_residual_deepening() -> None:
    torch.manual_seed(0)
    m = randomize_(cnn(1, [4, 5], 3))
    x = torch.randn(2, 1, 10)
    text = describe_change(m, deepen(m, "2", example_input=x), x)
    assert "depth 3 -> 4" in text
    assert "inserted: 2: 1 (Conv1d 4 -> 4), 2 (BatchNorm1d 4 -> 4)" in text
    assert "unchanged: 5 layers" in text
    r = randomize_(torchvision.models.resnet18(num_classes=4))
    x = torch.randn(1, 3, 32, 32)
    text = describe_change(r, deepen(r, "layer1.0", example_input=x), x)
    assert "depth 18 -> 20" in text
    assert "inserted: layer1.1: conv1 (Conv2d 64 -> 64), bn1" in text
    assert "moved (renamed by an insertion): 4 layers: layer1.1.conv1 -> layer1.2.conv1" in text
