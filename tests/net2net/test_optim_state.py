"""Optimizer state grows with the model: copied units continue their source's moments."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nas import net2net


def _trained(opt_cls, **kw):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(),
                      nn.Linear(4 * 6, 3))  # fmt: skip
    x = torch.randn(8, 1, 6)
    opt = opt_cls(m.parameters(), **kw)
    for _ in range(3):
        opt.zero_grad()
        m(x).pow(2).sum().backward()
        opt.step()
    return m, x, opt


@pytest.mark.parametrize(
    ("opt_cls", "kw", "keys"),
    [(torch.optim.Adam, {"lr": 1e-2}, ("exp_avg", "exp_avg_sq")),
     (torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9}, ("momentum_buffer",))],
)  # fmt: skip
def test_widened_state_follows_the_mapping(opt_cls, kw, keys):
    m, x, opt = _trained(opt_cls, **kw)
    child, mapping = net2net.widen_with_mapping(m, "0", 7, example_input=x, seed=3)
    grown = net2net.grow_optimizer_state(opt.state_dict(), m, child, mapping)
    opt2 = opt_cls(child.parameters(), **kw)
    opt2.load_state_dict(grown)  # shapes fit the child
    old, new = opt.state_dict()["state"], opt2.state_dict()["state"]
    src = mapping["0.weight"][0][1]  # new conv unit -> old unit
    assert len(src) == 7 and torch.equal(src[:4], torch.arange(4))
    cols = mapping["4.weight"][0][1]  # flatten: blocks of 6 features per channel
    assert len(cols) == 7 * 6
    for k in keys:
        assert torch.equal(new[0][k], old[0][k][src])  # conv rows
        assert torch.equal(new[2][k], old[2][k][src])  # BN weight rides along
        assert torch.equal(new[4][k], old[4][k][:, cols])  # consumer columns
        assert torch.equal(new[5][k], old[5][k])  # untouched bias of the consumer


def test_deepened_child_keeps_state_of_unchanged_params_and_starts_new_ones_empty():
    m, x, opt = _trained(torch.optim.Adam, lr=1e-2)
    point = net2net.depth_points(m, x)[0]
    child = net2net.deepen(m, point, example_input=x, data=[x])
    grown = net2net.grow_optimizer_state(opt.state_dict(), m, child)
    names = [n for n, _ in child.named_parameters()]
    old_names = {n for n, _ in m.named_parameters()}
    kept = {names[i] for i in grown["state"]}
    assert kept == old_names & set(names) and kept
    assert sorted(grown["param_groups"][0]["params"]) == list(range(len(names)))
    opt2 = torch.optim.Adam(child.parameters(), lr=1e-2)
    opt2.load_state_dict(grown)
    child(x).pow(2).sum().backward()
    opt2.step()  # new params get fresh state, old ones continue


def test_state_follows_renumbered_blocks_after_a_residual_insertion():
    """Inserting a block after blocks.0 renumbers blocks.1 -> blocks.2: its moments go with it,
    the inserted copy starts empty (matching by name alone would hand it blocks.1's state)."""
    from nas.models import create_model

    torch.manual_seed(0)
    m = create_model("vit", input_shape=(1, 8), num_classes=3, patch_size=2, dim=4, depth=2)
    x = torch.randn(6, 1, 8)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        m(x).pow(2).sum().backward()
        opt.step()
    child, renames = net2net.deepen_with_mapping(m, "blocks.0", example_input=x)
    assert renames["blocks.1.mlp.0.weight"] == "blocks.2.mlp.0.weight"
    assert renames["head.weight"] == "head.weight" and "blocks.1.attn.in_proj_weight" in renames
    grown = net2net.grow_optimizer_state(opt.state_dict(), m, child, renames=renames)
    old_index = {n: i for i, (n, _) in enumerate(m.named_parameters())}
    new_names = [n for n, _ in child.named_parameters()]
    moved = grown["state"][new_names.index("blocks.2.mlp.0.weight")]["exp_avg"]
    assert torch.equal(
        moved, opt.state_dict()["state"][old_index["blocks.1.mlp.0.weight"]]["exp_avg"]
    )
    assert new_names.index("blocks.1.mlp.0.weight") not in grown["state"]  # the new copy
    opt2 = torch.optim.Adam(child.parameters(), lr=1e-2)
    opt2.load_state_dict(grown)
