"""Net2Net on the torchvision classification zoo (random weights, nothing downloaded).

For every model: the width analysis lists at least the groups measured when this file was written,
never the classifier's; each refusal is a Net2NetError that carries its reason; a few groups spread
over the model (first ... last) widen with the float32 child matching the parent in float64; one
depth point deepens exactly. The weights are made non-trivial first (BN statistics from data,
constant tensors such as zero-init heads or ConvNeXt's 1e-6 layer scale replaced by random ones),
and a random-pad widening must move the output: a wrong child cannot hide behind a dead signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

from nas import net2net
from nas.net2net import NotDeepenableError, NotWidenableError, WidthGroup, analyze_widths
from nas.net2net.verify import max_abs_diff

#: the float32 child against the parent, both evaluated in float64, relative to max(1, |output|)
TOL = 1e-5


@dataclass(frozen=True)
class Case:
    groups: int  # widenable groups, at least (measured)
    total: int  # groups found, widenable or not
    points: int  # depth points, at least (measured)
    size: int = 64
    picks: int = 4  # groups widened, spread from first to last
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: a residual stream through attention / layer scales, or ShuffleNet's split streams (a
    #: joint group): only the head refused
    stream: bool = False


NO_AUX = {"aux_logits": False, "init_weights": False}
ZOO = {
    "resnet18": Case(12, 13, 9),
    "resnext50_32x4d": Case(37, 38, 17),
    "densenet121": Case(120, 121, 121),
    "googlenet": Case(57, 58, 57, kwargs=NO_AUX),
    "inception_v3": Case(94, 95, 94, size=96, kwargs=NO_AUX),
    "mobilenet_v2": Case(25, 26, 50),
    "mobilenet_v3_small": Case(27, 28, 24),
    "efficientnet_b0": Case(40, 41, 14),
    "regnet_x_400mf": Case(49, 50, 89),
    "shufflenet_v2_x1_0": Case(24, 25, 37, stream=True),
    "squeezenet1_0": Case(25, 26, 26),
    "vgg11_bn": Case(10, 11, 10, picks=3),
    "mnasnet0_5": Case(25, 26, 50),
    "convnext_tiny": Case(22, 23, 18, stream=True),
    "vit_b_16": Case(13, 14, 12, size=224, picks=2, stream=True),
    "swin_t": Case(13, 14, 12, size=224, picks=3, stream=True),
}
#: tests of these models take more than a few seconds each on one thread
SLOW = {
    "resnext50_32x4d", "densenet121", "googlenet", "inception_v3", "efficientnet_b0",
    "regnet_x_400mf", "vgg11_bn", "convnext_tiny", "vit_b_16", "swin_t",
}  # fmt: skip


def randomize_(model: nn.Module, x: torch.Tensor, seed: int = 0) -> nn.Module:
    """Weights whose every unit matters: no constant tensors, BN statistics from data."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():  # zero-init heads / biases, 1e-6 layer scales, unit gammas
            if p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                if float(p.flatten()[0]) == 0:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
                else:
                    p.copy_(torch.rand(p.shape, generator=g) + 0.5)
        bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
        if bns:
            model.train()
            for _ in range(2):
                model(torch.randn((4, *x.shape[1:]), generator=g))
        for bn in bns:
            bn.momentum = 0.1
    return model.eval()


@dataclass(frozen=True)
class Zoo:
    name: str
    case: Case
    model: nn.Module
    x: torch.Tensor
    groups: list[WidthGroup]
    refused: list[WidthGroup]
    scale: float  # max(1, |output|) in float64
    head: str  # the classifier: the last layer with 10 outputs


def params(names: list[str]) -> list[Any]:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.fixture(scope="module", params=params(list(ZOO)))
def z(request: pytest.FixtureRequest) -> Zoo:
    """One model at a time: pytest runs every test of a model before building the next one."""
    name = request.param
    case = ZOO[name]
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10, **case.kwargs)
    x = torch.randn(1, 3, case.size, case.size, generator=torch.Generator().manual_seed(1))
    randomize_(model, x)
    an = analyze_widths(model, x)
    head = [
        n
        for n, m in model.named_modules()
        if isinstance(m, nn.Linear | nn.Conv2d)
        and 10 in (getattr(m, "out_features", None), getattr(m, "out_channels", None))
    ][-1]
    scale = max_abs_diff(model, model, x)[1]
    return Zoo(name, case, model, x, an.groups, an.refused, scale, head)


def new_width(g: WidthGroup) -> int:
    """x2 where units must be replicated equally or per block, else +1/3 (uneven replicas)."""
    return g.width * 2 if g.tile or g.blocks > 1 else g.width + max(1, g.width // 3)


def short(reason: str) -> str:
    return re.sub(r"'[^']*'", "'.'", reason)


def test_width_analysis_and_refusals(z: Zoo) -> None:
    assert len(z.groups) >= z.case.groups
    assert len(z.groups) + len(z.refused) >= z.case.total
    assert z.head not in {p for g in z.groups for p in g.producers}
    assert [g.name for g in net2net.width_groups(z.model, z.x)] == [g.name for g in z.groups]
    heads = [g for g in z.refused if z.head in g.producers]
    assert heads and "output" in heads[0].reason
    assert all(g.reason for g in z.refused)
    # one refused group per distinct reason: widen says why, as a NotWidenableError
    for g in {short(g.reason): g for g in z.refused}.values():
        with pytest.raises(NotWidenableError) as err:
            net2net.widen(z.model, g.producers[-1], g.width * 2, example_input=z.x)
        assert g.reason in str(err.value)


def test_widen_is_exact(z: Zoo) -> None:
    """First ... last group (float32 child, checked in float64); the middle one also with teeth."""
    k, n = z.case.picks, len(z.groups)
    picked = [z.groups[round(i * (n - 1) / (k - 1))] for i in range(k)]
    for i, g in enumerate(picked):
        child = net2net.widen(z.model, g, new_width(g), example_input=z.x, seed=0)
        assert next(child.parameters()).dtype == torch.float32
        err = net2net.preservation_error(z.model, child, z.x)
        assert err <= TOL * z.scale, f"widen {g.name} {g.width}->{new_width(g)}: {err:.3g}"
        if i == k // 2:  # new units with fresh weights must move the output
            pad = net2net.widen(
                z.model, g, new_width(g), example_input=z.x, seed=0, init="random_pad"
            )
            assert net2net.preservation_error(z.model, pad, z.x) > 10 * TOL * z.scale
    if z.case.stream:
        check_stream(z)


def check_stream(z: Zoo) -> None:
    """Transformers, ConvNeXt, ShuffleNet: nothing but the classifier refused, and the
    widest-coupled stream (attention, layer scales, class token, position embedding; the
    groups one split stream couples) x2 exactly."""
    assert [g.name for g in z.refused] == [g.name for g in z.refused if z.head in g.producers]
    stream = max(z.groups, key=lambda g: len(g.producers))
    assert stream.tile and len(stream.producers) > 4
    child = net2net.widen(z.model, stream, 2 * stream.width, example_input=z.x, seed=0)
    err = net2net.preservation_error(z.model, child, z.x)
    assert err <= TOL * z.scale, f"widen stream {stream.name} x2: {err:.3g}"
    assert child(z.x).shape == z.model(z.x).shape


def test_deepen_is_exact(z: Zoo) -> None:
    points = net2net.depth_points(z.model, z.x)
    assert len(points) >= z.case.points
    if not points:  # swin_t: every residual branch ends in a shared StochasticDepth module
        with pytest.raises(NotDeepenableError, match=r"cannot deepen at 'features\.1\.0': .+"):
            net2net.deepen(z.model, "features.1.0", example_input=z.x)
        return
    p = points[len(points) // 2]
    child = net2net.deepen(z.model, p, example_input=z.x)
    err = net2net.preservation_error(z.model, child, z.x)
    assert err <= TOL * z.scale, f"deepen at {p.name} ({p.kind}): {err:.3g}"
