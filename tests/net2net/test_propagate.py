"""One tag pass on small graphs: what it records as produced, read, coupled, tiled and refused."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.net2net.graph import symbolic_trace
from nas.net2net.width.propagate import Propagation, propagate


def run(model: nn.Module, x, **kw) -> Propagation:
    return propagate(symbolic_trace(model), x, **kw)


def reads(p: Propagation, module: str) -> list[int]:
    (use,) = [u for u in p.consumers + p.channels if u.module == module]
    return use.ids.tolist()


def reasons(p: Propagation, atoms: range) -> set[str]:
    return {p.blocked[a] for a in atoms if a in p.blocked}


def test_mlp_producers_consumers_and_the_output() -> None:
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    p = run(m, torch.randn(5, 3))
    assert p.producers == {"0": 1, "2": 5} and p.n_atoms == 6
    assert [u.module for u in p.consumers] == ["2"]  # '0' reads the untagged input
    assert reads(p, "2") == [1, 2, 3, 4]
    assert reasons(p, range(5, 7)) == {"its units reach the model's output"}
    assert not set(p.blocked) & {1, 2, 3, 4}
    assert p.order == ["0", "1", "2"]


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem, self.conv, self.bn = nn.Conv1d(1, 3, 1), nn.Conv1d(3, 3, 1), nn.BatchNorm1d(3)
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem(x))
        h = h + self.bn(self.conv(h))
        return self.head(h.mean(-1))


def test_residual_add_couples_units_position_by_position() -> None:
    p = run(Residual(), torch.randn(2, 1, 6))
    labels = p.unions.labels(p.n_atoms + 1)
    stem, conv = p.producers["stem"], p.producers["conv"]
    for c in range(3):
        assert labels[stem + c] == labels[conv + c]  # stem unit c and conv unit c are one
    assert labels[stem] != labels[stem + 1]
    assert reads(p, "bn") == [conv, conv + 1, conv + 2]  # a channel module carries them
    assert reads(p, "head") == [stem, stem + 1, stem + 2]  # the mean over L keeps channels
    assert p.tiles == []  # averaging over positions, not over units


class Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.head = nn.Conv1d(1, 2, 1), nn.Conv1d(1, 3, 1), nn.Linear(5 * 4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(torch.cat([self.a(x), self.b(x)], 1), 1))


def test_concat_offsets_and_flatten_blocks_come_from_the_ids() -> None:
    p = run(Concat(), torch.randn(2, 1, 4))
    a, b = p.producers["a"], p.producers["b"]
    channels = [a, a + 1, b, b + 1, b + 2]
    assert reads(p, "head") == [c for c in channels for _ in range(4)]  # channel-major blocks
    assert not set(p.blocked) & set(channels)


def test_widths_and_emit_override_what_producers_emit() -> None:
    """The widened pass: a producer gets another width and emits the ids it is given."""
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    emitted = torch.tensor([1, 2, 3, 4, 2 + (1 << 32)])  # a 5th unit copying unit 2

    def emit(name: str, width: int, first: int) -> torch.Tensor:
        return emitted if name == "0" else torch.arange(width) + first

    p = run(m, torch.randn(5, 3), widths={"0": 5}, emit=emit)
    assert reads(p, "2") == emitted.tolist()
    assert p.n_atoms == 7  # atoms are allocated by width; the second producer starts after


def test_refusals_name_what_was_not_followed() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(3, 4)
            self.bil, self.head = nn.Bilinear(4, 4, 4), nn.Linear(7, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = torch.diff(self.a(x), dim=1)  # mixes neighbouring units
            return self.head(torch.cat([s, self.bil(self.b(x), self.b(x))], 1))

    p = run(Odd(), torch.randn(5, 3))
    a, b = p.producers["a"], p.producers["b"]
    mixed = "'diff' (diff) mixes or uses units in a way the analysis does not follow"
    assert reasons(p, range(a, a + 4)) == {mixed}
    (why,) = reasons(p, range(b, b + 4))
    assert why.startswith("'bil' (Bilinear)") and "register a handler" in why


def test_mean_over_units_asks_for_equal_replication() -> None:
    class MeanOverUnits(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.head = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.a(x)
            return self.head(h - h.mean(1, keepdim=True))

    p = run(MeanOverUnits(), torch.randn(5, 3))
    ((atoms, what, groups),) = p.tiles
    assert atoms.tolist() == [1, 2, 3, 4] and "averages over the units" in what and groups == 1
    assert not set(p.blocked) & {1, 2, 3, 4}
