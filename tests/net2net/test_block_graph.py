"""Depth analysis reuses the whole model's trace: block graphs cut out of it, analyses shared by
blocks of one structure. Both must give exactly what tracing every block alone gives."""

from __future__ import annotations

import re

import pytest
import torch
import torchvision
from torch import nn

from nas.net2net.depth import points, residual_blocks
from nas.net2net.graph import block_graph, symbolic_trace
from nas.net2net.graph.cache import clear_analysis_caches, structure


def _nodes(gm: torch.fx.GraphModule) -> list[tuple]:
    """Every node; a message that printed a proxy while tracing names it as that trace did."""
    return [
        (n.op, n.name, str(n.target), re.sub(r"Proxy\(\w+\)", "Proxy", f"{n.args}{n.kwargs}"))
        for n in gm.graph.nodes
    ]


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("resnet18", "layer2.0"),
        ("resnet18", "layer3.1"),
        ("vit_b_16", "encoder.layers.encoder_layer_5"),
    ],
)
def test_a_cut_out_block_graph_is_the_blocks_own_trace(name: str, path: str) -> None:
    model = torchvision.models.get_model(name, weights=None).eval()
    block = model.get_submodule(path)
    cut = block_graph(symbolic_trace(model), path, block)
    assert cut is not None
    assert _nodes(cut) == _nodes(symbolic_trace(block))
    assert all(cut.get_submodule(n.target) is block.get_submodule(n.target)
               for n in cut.graph.nodes if n.op == "call_module")  # fmt: skip


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.block(x))


def test_a_block_called_twice_is_not_cut_out() -> None:
    model = Twice()
    assert block_graph(symbolic_trace(model), "block", model.block) is None


@pytest.mark.parametrize(
    "name", ["resnet50", "mobilenet_v2", "convnext_tiny", "efficientnet_v2_s", "swin_t"]
)
def test_depth_analysis_with_cut_out_graphs_equals_tracing_each_block(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = torchvision.models.get_model(name, weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    clear_analysis_caches()
    fast = points.analyze(model, x)
    clear_analysis_caches()
    monkeypatch.setattr(residual_blocks, "block_graph", lambda *a: None)
    traced = points.analyze(model, x)
    clear_analysis_caches()
    assert len(fast.points) >= 12
    assert fast.points == traced.points and fast.refused == traced.refused


class Flagged(nn.Module):
    def __init__(self, width: int, residual: bool, opaque: object = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.residual = residual
        self.opaque = opaque

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


def test_structure_ignores_layer_sizes_but_not_flags_or_unknown_attributes() -> None:
    assert structure(Flagged(8, True)) == structure(Flagged(16, True))
    assert structure(Flagged(8, True)) != structure(Flagged(8, False))
    assert structure(Flagged(8, True, opaque=object())) is None
    no_bias = Flagged(8, True)
    no_bias.conv.bias = None
    assert structure(no_bias) != structure(Flagged(8, True))


def test_blocks_of_one_structure_share_an_analysis_and_others_do_not() -> None:
    clear_analysis_caches()
    wide, narrow, plain = Flagged(16, True), Flagged(8, True), Flagged(8, False)
    assert residual_blocks.analyze_block(narrow).ok
    assert residual_blocks.analyze_block(wide) is residual_blocks.analyze_block(narrow)
    assert not residual_blocks.analyze_block(plain).ok
    opaque = Flagged(8, False, opaque=object())  # not cached: analysed on its own
    assert not residual_blocks.analyze_block(opaque).ok
    opaque.residual = True
    assert residual_blocks.analyze_block(opaque).ok
