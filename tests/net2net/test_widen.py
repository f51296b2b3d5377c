"""Net2WiderNet on fixed architectures: coupling, offsets, refusals, noise / split / init."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_deepen_models import cnn, mlp, randomize_, resnet
from test_deepen_models import transformer as shape_dependent_transformer
from test_widen_properties import Inception, Shuffle, transformer
from torch import nn

from nas import net2net
from nas.net2net import analyze_widths
from nas.net2net.verify import max_abs_diff


def rel_error(parent: nn.Module, child: nn.Module, x, **kw) -> float:
    diff, scale = max_abs_diff(parent, child, x, **kw)
    return diff / scale


def source(mapping: dict, key: str) -> torch.Tensor:
    """The layout (new unit -> old unit) recorded for a producer's rows."""
    ((dim, idx),) = mapping[key]
    assert dim == 0
    return idx


def model_and_input(build, *shape: int, seed: int = 0):
    torch.manual_seed(seed)
    return randomize_(build(), seed).double(), torch.randn(*shape, dtype=torch.float64)


def sgd_steps(model: nn.Module, x: torch.Tensor, steps: int = 5) -> nn.Module:
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    target = torch.randn(x.shape[0], 3, dtype=x.dtype, generator=torch.Generator().manual_seed(9))
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(model(x), target).backward()
        opt.step()
    return model


def test_residual_stream_is_one_group_with_several_producers() -> None:
    m, x = model_and_input(lambda: resnet(2, [3, 4], 1), 2, 1, 8, 8)
    groups = {g.name: g for g in net2net.width_groups(m, x)}
    assert list(groups) == ["0.0", "1.0.conv1", "1.1.proj.0", "1.1.conv1"]
    stem = groups["0.0"]
    assert stem.producers == ("0.0", "1.0.conv2")  # the residual add couples stem and block
    assert stem.members == ("0.1", "1.0.bn2")
    assert stem.consumers == ("1.0.conv1", "1.1.proj.0", "1.1.conv1")
    assert groups["1.1.proj.0"].producers == ("1.1.proj.0", "1.1.conv2")  # 1x1 downsample
    child = net2net.widen(m, "1.0.conv2", 7, example_input=x, seed=0)  # any producer selects it
    assert child[0][0].out_channels == child[1][0].conv2.out_channels == 7
    assert child[0][1].num_features == child[1][0].bn2.num_features == 7
    assert child[1][1].proj[0].in_channels == child[1][1].conv1.in_channels == 7
    assert rel_error(m, child, x) <= 1e-10
    assert rel_error(m, child, x, train=True) <= 1e-10


def test_concat_consumer_keeps_the_other_segments_offsets() -> None:
    m, x = model_and_input(lambda: Inception(2, 3, 2, 2, 3, 2, False), 2, 1, 4, 4)
    child, mapping = net2net.widen_with_mapping(m, "b2.1.0", 5, example_input=x, seed=0)
    L = source(mapping, "b2.1.0.weight")
    ((dim, cols),) = mapping["mix.0.weight"]  # segments: b1 0:2, b2 2:5 -> 2:7, b3 5:7 -> 7:9
    assert dim == 1
    assert cols.tolist() == [0, 1, 2, 3, 4, *(2 + L[3:]).tolist(), 5, 6]
    w_old, w_new = m.mix[0].weight, child.mix[0].weight
    assert torch.equal(w_new[:, :2], w_old[:, :2]) and torch.equal(w_new[:, 7:], w_old[:, 5:])
    assert rel_error(m, child, x) <= 1e-10


def test_concat_then_flatten_remaps_whole_channel_blocks() -> None:
    m, x = model_and_input(lambda: Inception(2, 3, 2, 2, 3, 2, True), 2, 1, 4, 4)
    child, mapping = net2net.widen_with_mapping(m, "b3.0", 3, example_input=x, seed=0)
    L = source(mapping, "b3.0.weight")
    ((_, cols),) = mapping["head.weight"]  # 7 channels x 16 positions, channel-major
    expected = torch.cat([torch.arange(7 * 16), (5 + L[2]) * 16 + torch.arange(16)])
    assert torch.equal(cols, expected)
    assert rel_error(m, child, x) <= 1e-10


def test_logits_group_is_not_listed_and_refused_by_name() -> None:
    m, x = model_and_input(lambda: mlp([3, 4]), 5, 6)
    assert [g.name for g in net2net.width_groups(m, x)] == ["0", "2"]
    with pytest.raises(net2net.NotWidenableError, match=r"'4'.*reach the model's output"):
        net2net.widen(m, "4", 6, example_input=x)


def test_invalid_requests_raise_clear_errors() -> None:
    m, x = model_and_input(lambda: mlp([3, 4]), 5, 6)
    for width in (3, 2):
        with pytest.raises(net2net.NotWidenableError, match=r"'0'.*integer > 3"):
            net2net.widen(m, "0", width, example_input=x)
    with pytest.raises(net2net.NotWidenableError, match=r"'nope'.*widenable groups: 0, 2"):
        net2net.widen(m, "nope", 8, example_input=x)
    assert issubclass(net2net.NotWidenableError, net2net.Net2NetError)
    assert issubclass(net2net.VerificationError, net2net.Net2NetError)


def test_layernorm_group_needs_a_multiple_of_its_width() -> None:
    m, x = model_and_input(lambda: transformer(4, 2, 2, 6, 2), 2, 3, 5)
    stream = net2net.width_groups(m, x)[0]
    assert stream.tile and "1.ln1" in stream.members
    with pytest.raises(net2net.NotWidenableError, match=r"'1\.ln1' \(LayerNorm\).*multiple of 4"):
        net2net.widen(m, stream, 6, example_input=x)
    child = net2net.widen(m, stream, 12, example_input=x, seed=0)
    assert child[1].ln1.normalized_shape == (12,) and child[1].qkv.in_features == 12
    assert rel_error(m, child, x) <= 1e-10


def test_parent_untouched_child_same_class_bn_stats_replicated() -> None:
    m, x = model_and_input(lambda: cnn(2, [3, 4], 3), 2, 1, 6, 6)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    child, mapping = net2net.widen_with_mapping(m, "0", 8, example_input=x, seed=1)
    assert m.state_dict().keys() == before.keys()
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    assert type(child) is type(m) and m[0].out_channels == 3
    L = source(mapping, "0.weight")
    assert L[:3].tolist() == [0, 1, 2] and set(L[3:].tolist()) <= {0, 1, 2}
    for buf in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(getattr(child[1], buf), getattr(m[1], buf)[L]), buf
    assert set(mapping) == {
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "3.weight"
    }  # fmt: skip
    counts = torch.bincount(L).double()[L]
    assert torch.allclose(child[3].weight * counts[:, None, None], m[3].weight[:, L])
    assert rel_error(m, child, x, train=True) <= 1e-10


def test_noise_moves_the_output_a_little_and_breaks_symmetry() -> None:
    m, x = model_and_input(lambda: mlp([3, 4]), 16, 6)
    child, mapping = net2net.widen_with_mapping(m, "0", 6, example_input=x, noise=1e-2, seed=0)
    assert 0 < rel_error(m, child, x) < 0.05
    L, w = source(mapping, "0.weight"), child[0].weight
    assert torch.equal(w[:3], m[0].weight)  # only the copies are perturbed
    sgd_steps(child, x)
    assert all((w[j] - w[L[j]]).abs().max() > 1e-4 for j in range(3, 6))


def test_even_split_keeps_replicas_identical_uneven_split_does_not() -> None:
    m, x = model_and_input(lambda: mlp([3, 4]), 16, 6)
    even, mapping = net2net.widen_with_mapping(m, "0", 6, example_input=x, seed=0)
    L = source(mapping, "0.weight")
    start = even[0].weight.detach().clone()
    sgd_steps(even, x)
    w = even[0].weight.detach()
    assert (w - start).abs().max() > 1e-3  # training did move the weights
    for j in range(3, 6):  # identical gradients forever: the copies never separate
        torch.testing.assert_close(w[j], w[L[j]], rtol=0, atol=1e-12)
    uneven = net2net.widen(m, "0", 6, example_input=x, seed=0, split="uneven")
    assert rel_error(m, uneven, x) <= 1e-10
    out = uneven[2].weight.detach()
    for j in range(3, 6):
        assert (out[:, j] - out[:, L[j]]).abs().max() > 1e-3
    summed = torch.zeros_like(m[2].weight).index_add_(1, L, out)
    torch.testing.assert_close(summed, m[2].weight, rtol=0, atol=1e-12)
    sgd_steps(uneven, x)
    w = uneven[0].weight.detach()
    assert all((w[j] - w[L[j]]).abs().max() > 1e-6 for j in range(3, 6))


def test_random_baselines_change_the_function_keep_the_shapes() -> None:
    m, x = model_and_input(lambda: mlp([3, 4]), 16, 6)
    exact = net2net.widen(m, "0", 7, example_input=x, seed=0)
    pad = net2net.widen(m, "0", 7, example_input=x, seed=0, init="random_pad")
    fresh = net2net.widen(m, "0", 7, example_input=x, seed=0, init="random_init")
    assert rel_error(m, pad, x) > 1e-3 and rel_error(m, fresh, x) > 1e-3
    assert torch.equal(pad[0].weight[:3], m[0].weight)  # old units kept, new ones random
    shapes = {k: v.shape for k, v in exact.state_dict().items()}
    assert {k: v.shape for k, v in fresh.state_dict().items()} == shapes
    assert not torch.equal(fresh[0].weight[:3], m[0].weight)


def test_zero_out_new_units_are_fresh_silent_then_used() -> None:
    m, x = model_and_input(lambda: cnn(1, [3, 4], 3), 8, 1, 6)  # conv-BN-ReLU x2, pool, linear
    child, mapping = net2net.widen_with_mapping(m, "0", 7, example_input=x, seed=0, init="zero_out")
    assert rel_error(m, child, x) <= 1e-10 and rel_error(m, child, x, train=True) <= 1e-10
    L, w_in = source(mapping, "0.weight"), child[0].weight.detach().clone()
    assert torch.equal(w_in[:3], m[0].weight) and L[:3].tolist() == [0, 1, 2]
    for j in range(3, 7):  # fresh incoming weights, unlike any old unit's
        assert all(not torch.allclose(w_in[j], m[0].weight[i]) for i in range(3))
    w_out = child[3].weight.detach().clone()  # the next conv reads the new units with zero weights
    assert torch.equal(w_out[:, :3], m[3].weight) and not w_out[:, 3:].any()
    sgd_steps(child, x)
    assert child[3].weight[:, 3:].abs().amax() > 1e-3  # training turns the new units on
    assert (child[0].weight[3:] - w_in[3:]).abs().amax() > 1e-4  # and they learn
    with pytest.raises(ValueError, match="noise perturbs copied units"):
        net2net.widen(m, "0", 7, example_input=x, init="zero_out", noise=0.01)
    with pytest.raises(net2net.NotWidenableError, match="zero_out"):  # LayerNorm: no fresh units
        tm, tx = model_and_input(lambda: transformer(4, 2, 2, 6, 2), 2, 3, 5)
        net2net.widen(tm, net2net.width_groups(tm, tx)[0], 8, example_input=tx, init="zero_out")


class ScaledConvMax(nn.Module):
    """A layer scale (a bare parameter read first) on a conv's units, then either a channel
    max (exact only with copies) or a conv reading them."""

    def __init__(self, use_max: bool) -> None:
        super().__init__()
        self.conv, self.use_max = nn.Conv1d(1, 4, 3, padding=1), use_max
        self.scale = nn.Parameter(torch.rand(1, 4, 1) + 0.5)
        self.out = nn.Conv1d(4, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.scale * self.conv(x))
        return h.amax(dim=1) if self.use_max else self.out(h)


def test_zero_out_follows_tensor_attributes_and_refuses_a_max_over_units() -> None:
    m, x = model_and_input(lambda: ScaledConvMax(use_max=False), 3, 1, 7)
    (g,) = net2net.width_groups(m, x)
    assert g.params and not g.copies_only  # the layer scale grows with the units
    child = net2net.widen(m, g, 9, example_input=x, seed=0, init="zero_out")
    assert rel_error(m, child, x) <= 1e-10 and not child.out.weight[:, 4:].any()
    m, x = model_and_input(lambda: ScaledConvMax(use_max=True), 3, 1, 7)
    (g,) = net2net.width_groups(m, x)
    assert "max over the units" in g.copies_only and not g.tile
    assert rel_error(m, net2net.widen(m, g, 9, example_input=x, seed=0), x) <= 1e-10
    with pytest.raises(net2net.NotWidenableError, match="max over the units"):
        net2net.widen(m, g, 9, example_input=x, seed=0, init="zero_out", verify=False)


def test_seed_fixes_the_copies() -> None:
    m, x = model_and_input(lambda: mlp([3, 4]), 5, 6)
    a, b, c = (net2net.widen_with_mapping(m, "0", 12, example_input=x, seed=s) for s in (5, 5, 6))
    assert a[0].state_dict().keys() == b[0].state_dict().keys()
    assert all(torch.equal(v, b[0].state_dict()[k]) for k, v in a[0].state_dict().items())
    assert not torch.equal(source(a[1], "0.weight"), source(c[1], "0.weight"))


def test_widening_twice_stays_exact() -> None:
    m, x = model_and_input(lambda: resnet(1, [3, 4], 1), 2, 1, 12)
    once = net2net.widen(m, "0.0", 5, example_input=x, seed=0)
    twice = net2net.widen(once, "0.0", 8, example_input=x, seed=1)
    other = net2net.widen(twice, "1.1.conv1", 9, example_input=x, seed=2)
    assert other[0][0].out_channels == 8 and other[1][1].conv1.out_channels == 9
    for child in (once, twice, other):
        assert rel_error(m, child, x) <= 1e-10
        assert rel_error(m, child, x, train=True) <= 1e-10


class MatMul(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.head = nn.Linear(3, 4), nn.Linear(3, 5), nn.Linear(5, 3)
        self.w = nn.Parameter(torch.randn(4, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(torch.matmul(F.relu(self.a(x)), self.w)) + self.b(x))


def test_unknown_op_on_units_refuses_the_group() -> None:
    m, x = model_and_input(MatMul, 4, 3)
    assert "a" not in {p for g in net2net.width_groups(m, x) for p in g.producers}
    with pytest.raises(net2net.NotWidenableError, match=r"'a'.*matmul"):
        net2net.widen(m, "a", 8, example_input=x)


class CalledTwice(nn.Module):
    """`fc` reads its own units and `inp`'s; `shared` reads `a`'s units and `b`'s."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.fc = nn.Linear(3, 4), nn.Linear(4, 4)
        self.a, self.b, self.shared = nn.Linear(3, 4), nn.Linear(3, 4), nn.Linear(4, 5)
        self.head = nn.Linear(9, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc(F.relu(self.fc(F.relu(self.inp(x))))))
        s = F.relu(self.shared(F.relu(self.a(x)))) * F.relu(self.shared(torch.tanh(self.b(x))))
        return self.head(torch.cat([h, s], 1))


def test_module_called_twice_never_yields_a_wrong_model() -> None:
    m, x = model_and_input(CalledTwice, 4, 3)
    widened = 0
    for g in net2net.width_groups(m, x):
        try:
            child = net2net.widen(m, g, g.width + 2, example_input=x, seed=0)
        except net2net.Net2NetError:  # refusing is fine, crashing is not
            continue
        assert rel_error(m, child, x) <= 1e-10, g.name
        widened += 1
    assert widened, "every group was refused: nothing was checked"


def test_module_called_twice_listed_groups_widen_exactly() -> None:
    """The units a shared module reads in each call share its weight columns: one group."""
    m, x = model_and_input(CalledTwice, 4, 3)
    groups = net2net.width_groups(m, x)
    assert groups
    for g in groups:
        child = net2net.widen(m, g, g.width + 2, example_input=x, seed=0, verify=False)
        assert rel_error(m, child, x) <= 1e-10, g.name


def test_channel_shuffle_never_yields_a_wrong_model() -> None:
    m, x = model_and_input(lambda: Shuffle(8, 2, False), 2, 1, 4, 4)
    groups = {g.name: g for g in net2net.width_groups(m, x)}
    assert "stem.0" not in groups  # split by chunk() and by grouped convs
    with pytest.raises(net2net.NotWidenableError, match=r"'stem\.0'.*grouped conv"):
        net2net.widen(m, "stem.0", 16, example_input=x)
    assert rel_error(m, net2net.widen(m, "branch.0", 6, example_input=x, seed=0), x) <= 1e-10
    for g in groups.values():
        new = 2 * g.width if g.tile else g.width + 2 * g.blocks
        try:
            child = net2net.widen(m, g, new, example_input=x, seed=0)
        except net2net.Net2NetError:
            pytest.fail(f"listed group {g.name} refused")
        assert rel_error(m, child, x) <= 1e-10, g.name


def test_listed_stream_of_shape_dependent_attention_widens() -> None:
    """A reshape to a size read off the stream: listing runs the widened graph on tags first."""
    m, x = model_and_input(lambda: shape_dependent_transformer(4, 2, 1, False), 2, 3, 5)
    an = analyze_widths(m, x)
    listed = net2net.width_groups(m, x)
    assert len(listed) < len(an.groups)  # the stream is analysed as a group, then left out
    for g in set(an.groups) - set(listed):
        with pytest.raises(net2net.NotWidenableError, match="widened graph does not run"):
            net2net.widen(m, g, 2 * g.width, example_input=x)
    assert listed
    for g in listed:
        child = net2net.widen(m, g, 2 * g.width, example_input=x, seed=0)
        assert rel_error(m, child, x) <= 1e-10, g.name


def test_single_unit_layers_are_refused_not_coupled() -> None:
    """A width-1 layer's unit axis has size 1: nothing marks it, so it is refused, by name."""
    m, x = model_and_input(lambda: Inception(1, 2, 1, 2, 1, 1, False), 2, 1, 4)
    names = [g.producers for g in net2net.width_groups(m, x)]
    assert ("b2.0.0",) in names  # the width-2 layer is still its own group
    assert all(len(p) == 1 for p in names)  # nothing coupled across the concatenation
    with pytest.raises(net2net.NotWidenableError, match=r"'b1\.0'.*single unit"):
        net2net.widen(m, "b1.0", 3, example_input=x)
