"""No crash, no false listing, on models shaped like those in other libraries: whatever a
transform cannot do is a named refusal, every listed group / point can be done, and the
analyses leave the model as they found it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nas import net2net
from nas.net2net.width import ChannelHandler, register_handler


class CachedBias(nn.Module):
    """Keeps a tensor computed on its first call (like attention-bias caches)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv, self.head = nn.Conv1d(2, c, 3, padding=1), nn.Linear(c, 3)
        self.cache: torch.Tensor | None = None
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.cache is None:
            self.cache = torch.zeros(x.shape[-1])
        return self.head(F.relu(self.conv(x) + self.cache).mean(-1))


def test_analyses_leave_the_model_as_they_found_it() -> None:
    model, x = CachedBias(4).eval(), torch.randn(2, 2, 6)
    assert [g.name for g in net2net.width_groups(model, x)] == ["conv"]
    net2net.depth_points(model, x)
    assert model.cache is None and model.calls == 0  # nothing ran on the model itself
    wide = net2net.widen(model, "conv", 6, example_input=x)
    assert net2net.preservation_error(model, wide, x) <= 1e-6
    wider = net2net.widen(model, "conv", 8, example_input=x)  # a second transform still works
    assert wider.conv.out_channels == 8 and model.cache is None


class SDPA(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.scaled_dot_product_attention(self.q(x), self.k(x), self.v(x), is_causal=True)
        return self.out(a)


def test_sdpa_passes_value_units_and_refuses_query_and_key_by_name() -> None:
    torch.manual_seed(0)
    model, x = SDPA(4).double().eval(), torch.randn(2, 5, 4, dtype=torch.float64)
    assert [g.name for g in net2net.width_groups(model, x)] == ["v"]
    wide = net2net.widen(model, "v", 7, example_input=x)
    assert net2net.preservation_error(model, wide, x) <= 1e-12
    for name in ("q", "k"):
        with pytest.raises(net2net.NotWidenableError, match="contracts the units of query"):
            net2net.widen(model, name, 8, example_input=x)


class Gain(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c, self.g = c, nn.Parameter(torch.rand(c) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.g.view(1, self.c, 1)  # reads its own size attribute


@register_handler(Gain)
class ForgetfulGainHandler(ChannelHandler):  # resize() forgets to update Gain.c
    def params(self, m: nn.Module) -> dict:
        return {"g": {"chan": 0}}


def test_a_child_whose_forward_fails_is_a_named_refusal() -> None:
    model = nn.Sequential(nn.Conv1d(2, 4, 3), Gain(4), nn.ReLU(), nn.Flatten(), nn.Linear(16, 3))
    x = torch.randn(2, 2, 6)
    with pytest.raises(net2net.NotWidenableError, match=r"the child's forward fails \(Runtime"):
        net2net.widen(model, "0", 6, example_input=x)


class PooledDown(nn.Module):
    """ResNet-D style downsampling block: the main branch pools, the shortcut pools + 1x1."""

    def __init__(self, c_in: int, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c)
        self.pool = nn.AvgPool2d(2)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.short = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c_in, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(F.relu(self.bn1(self.conv1(x))))
        return F.relu(self.bn2(self.conv2(h)) + self.short(x))


def test_every_listed_depth_point_deepens_and_pooling_templates_are_refused() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), PooledDown(4, 6), PooledDown(6, 6),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3),
    ).eval()  # fmt: skip
    x = torch.randn(2, 1, 8, 8)
    points = net2net.depth_points(model, x)
    assert points, "expected depth points"
    for p in points:
        child = net2net.deepen(model, p, example_input=x)
        assert net2net.preservation_error(model, child, x) <= 1e-5
    assert not {"2", "3"} & {p.name for p in points}  # no copy of a pooling block


class TraceConstant(nn.Module):
    """``torch.tensor`` in forward: the trace keeps it as ``_tensor_constant0`` on the
    GraphModule, an attribute the model itself does not have (maxvit does this)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.head = nn.Conv1d(2, 4, 3, padding=1), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((F.relu(self.conv(x)) * torch.tensor(2.0)).mean(-1))


def test_tensor_constants_of_the_trace_do_not_hide_groups() -> None:
    model, x = TraceConstant().double().eval(), torch.randn(2, 2, 6, dtype=torch.float64)
    assert [g.name for g in net2net.width_groups(model, x)] == ["conv"]
    wide = net2net.widen(model, "conv", 7, example_input=x)
    assert net2net.preservation_error(model, wide, x) <= 1e-12
