"""shrink_perturb: w <- shrink * w + perturb * fresh init, buffers kept, parent untouched."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from nas import net2net


def _model() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.BatchNorm1d(4), nn.ReLU(),
                      nn.Flatten(), nn.Linear(4 * 6, 3))  # fmt: skip
    m[1].running_mean.fill_(0.3)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)  # "trained": far from any fresh init
    return m


def test_formula_against_a_fresh_init_with_the_same_seed() -> None:
    m = _model()
    before = copy.deepcopy(m.state_dict())
    out = net2net.shrink_perturb(m, 0.4, 0.2, seed=3)
    fresh = copy.deepcopy(m)
    torch.manual_seed(3)
    for mod in fresh.modules():
        if hasattr(mod, "reset_parameters"):
            mod.reset_parameters()
    for (name, p), (_, f) in zip(out.named_parameters(), fresh.named_parameters(), strict=True):
        torch.testing.assert_close(p, 0.4 * before[name] + 0.2 * f)
    torch.testing.assert_close(out[1].running_mean, before["1.running_mean"])  # buffers kept
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k  # the parent is untouched


def test_identity_settings_and_determinism() -> None:
    m = _model()
    same = net2net.shrink_perturb(m, 1.0, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), same.parameters(), strict=True))
    a = net2net.shrink_perturb(m, 0.5, 0.1, seed=1)
    b = net2net.shrink_perturb(m, 0.5, 0.1, seed=1)
    c = net2net.shrink_perturb(m, 0.5, 0.1, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a[0].weight, c[0].weight)


@pytest.mark.parametrize(("shrink", "perturb"), [(1.5, 0.1), (-0.1, 0.1), (0.5, -1.0)])
def test_bad_values(shrink: float, perturb: float) -> None:
    with pytest.raises(ValueError, match="shrink must lie in"):
        net2net.shrink_perturb(_model(), shrink, perturb)
