"""Split streams (ShuffleNet v2: ``x.chunk(2)`` + channel shuffle): the groups a split hands to
different pieces grow together as one joint group, each unit's copies kept in its own piece."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from nas import net2net
from nas.net2net import NotWidenableError, analyze_widths


def _shuffle(x: torch.Tensor) -> torch.Tensor:
    b, c, length = x.shape
    return x.view(b, 2, c // 2, length).transpose(1, 2).reshape(b, c, length)


class Unit(nn.Module):
    """ShuffleNet v2's stride-1 unit in 1D: half the stream passes, half goes through a branch."""

    def __init__(self, half: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv1d(half, half, 1), nn.BatchNorm1d(half), nn.ReLU(),
            nn.Conv1d(half, half, 3, padding=1), nn.BatchNorm1d(half), nn.ReLU(),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        return _shuffle(torch.cat([x1, self.branch(x2)], dim=1))


class TinyShuffle(nn.Module):
    def __init__(self, half: int = 8, units: int = 3) -> None:
        super().__init__()
        self.a, self.b = nn.Conv1d(2, half, 3, padding=1), nn.Conv1d(2, half, 3, padding=1)
        self.units = nn.Sequential(*(Unit(half) for _ in range(units)))
        self.head = nn.Linear(2 * half, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = _shuffle(torch.cat([torch.relu(self.a(x)), torch.relu(self.b(x))], dim=1))
        return self.head(self.units(s).mean(-1))


def _randomized(model: nn.Module, x: torch.Tensor) -> nn.Module:
    model.train()
    with torch.no_grad():
        model(torch.randn(8, *x.shape[1:], dtype=x.dtype))  # BN statistics from data
    return model.eval()


def _rel_error(parent: nn.Module, child: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        ref, out = parent(x), child(x)
    return float((out - ref).abs().max() / ref.abs().max().clamp_min(1.0))


@pytest.mark.parametrize("k", [2, 3])
def test_a_split_stream_widens_as_one_joint_group_exactly(k: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 2, 9, dtype=torch.float64)
    model = _randomized(TinyShuffle().double(), x)
    groups = net2net.width_groups(model, x)
    joint = [g for g in groups if g.parts]
    assert len(joint) == 1
    stream = joint[0]
    # the two stem convs and the branch ends of the first two units: all split by a chunk
    assert stream.producers == ("a", "b", "units.0.branch.3", "units.1.branch.3")
    assert stream.width == 4 * 8 and stream.tile
    # a part's producer names the joint group; none is listed alone
    assert all(p.name not in [g.name for g in groups if not g.parts] for p in stream.parts)
    child = net2net.widen(model, "units.0.branch.3", k * stream.width, example_input=x, seed=1)
    assert child.a.out_channels == child.units[0].branch[3].out_channels == k * 8
    # the last unit's branch end meets no chunk: a group of its own, not grown
    assert child.units[2].branch[3].out_channels == 8 and child.head.in_features == k * 8 + 8
    assert _rel_error(model, child, x) <= 1e-12
    # the uneven split and noise-free random pad go through the same layouts
    uneven = net2net.widen(model, stream, k * stream.width, example_input=x, split="uneven")
    assert _rel_error(model, uneven, x) <= 1e-12
    pad = net2net.widen(model, stream, k * stream.width, example_input=x, init="random_pad")
    assert _rel_error(model, pad, x) > 1e-3  # fresh units do move the output


def test_no_layout_fits_is_a_refusal_naming_the_split() -> None:
    """Halves of 6 over 3 units: the pieces' quarters no longer split evenly, and no x2 / x3
    layout keeps every copy in its source's piece."""
    x = torch.randn(2, 2, 9, dtype=torch.float64)
    model = _randomized(TinyShuffle(half=6).double(), x)
    assert not [g for g in net2net.width_groups(model, x) if g.parts]
    joint = analyze_widths(model, x).find("a")
    with pytest.raises(
        NotWidenableError,
        match=r"no layout keeps every unit's copies .*\('chunk' \.\.\. 'chunk_2'\)",
    ):
        net2net.widen(model, joint, 2 * joint.width, example_input=x)


def test_joint_group_needs_a_whole_multiple() -> None:
    x = torch.randn(2, 2, 9, dtype=torch.float64)
    model = _randomized(TinyShuffle().double(), x)
    stream = next(g for g in net2net.width_groups(model, x) if g.parts)
    with pytest.raises(NotWidenableError, match=f"choose a multiple of {stream.width}"):
        net2net.widen(model, stream, stream.width + 2, example_input=x)


def test_torchvision_shufflenet_streams_and_the_stage_no_layout_fits() -> None:
    """x0.5: stage 2 and 4 streams widen exactly; stage 3 (8 units over 48 + 48 channels) has
    no layout at x2-x4 that keeps every copy in its source's piece, and says so."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 32)
    model = torchvision.models.shufflenet_v2_x0_5(num_classes=10).eval()
    listed = {g.name: g for g in net2net.width_groups(model, x) if g.parts}
    assert set(listed) == {"stage2.0.branch1.2", "stage4.0.branch1.2"}
    for g in listed.values():
        child = net2net.widen(model, g, 2 * g.width, example_input=x)
        err, scale = net2net.verify.max_abs_diff(model, child, x)
        assert err <= 1e-10 * scale
    stage3 = analyze_widths(model, x).find("stage3.0.branch1.2")
    assert len(stage3.parts) == 8
    with pytest.raises(
        NotWidenableError, match="no layout keeps every unit's copies in its own piece"
    ):
        net2net.widen(model, stage3, 2 * stage3.width, example_input=x)
