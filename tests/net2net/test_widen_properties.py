"""Property tests: every listed width group of random small architectures widens exactly."""

from __future__ import annotations

import random
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from test_deepen_models import BN, CONV, POOL, mlp, randomize_, resnet
from torch import nn
from torch.utils._pytree import tree_map

from nas import net2net
from nas.net2net.verify import max_abs_diff
from nas.net2net.width.handlers import handler_for
from nas.net2net.width.remap import new_rows

# No shrinking: one example takes ~0.5 s, so shrinking a failure would take minutes.
SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)


def cbr(dim: int, c_in: int, c_out: int, k: int = 3, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        CONV[dim](c_in, c_out, k, padding=k // 2, groups=groups), BN[dim](c_out), nn.ReLU()
    )


def flat_cnn(dim: int, widths: list[int], size: int) -> nn.Module:
    """Conv-BN-ReLU stack flattened straight into Linear: each channel is a block of features."""
    layers = [cbr(dim, a, b) for a, b in zip([1, *widths], widths, strict=False)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(widths[-1] * size**dim, 3))


class Inception(nn.Module):
    """Three branches concatenated; the head reads the concatenation pooled or flattened."""

    def __init__(self, dim: int, c: int, a: int, r: int, b: int, p: int, flat: bool) -> None:
        super().__init__()
        self.stem, self.flat = cbr(dim, 1, c), flat
        self.b1 = cbr(dim, c, a, 1)
        self.b2 = nn.Sequential(cbr(dim, c, r, 1), cbr(dim, r, b))
        self.b3 = cbr(dim, c, p, 1)
        self.pool = (nn.MaxPool1d, nn.MaxPool2d)[dim - 1](3, 1, 1)
        self.mix = cbr(dim, a + b + p, c, 1)
        self.head = nn.Linear((a + b + p) * 4**dim if flat else c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = torch.cat([self.b1(x), self.b2(x), self.b3(self.pool(x))], dim=1)
        if self.flat:
            return self.head(torch.flatten(y, 1))
        return self.head(self.mix(y).flatten(2).mean(dim=-1))


class SE(nn.Module):
    """Squeeze-excitation: the gate's output units are the conv's units (x * sigmoid(fc(mean)))."""

    def __init__(self, c: int, r: int) -> None:
        super().__init__()
        self.conv, self.fc1, self.fc2 = cbr(2, 1, c), nn.Linear(c, r), nn.Linear(r, c)
        self.out = cbr(2, c, c + 1)
        self.head = nn.Linear(c + 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))))))
        x = x * s[:, :, None, None]
        return self.head(self.out(x).amax((2, 3)))


def separable(dim: int, c: int, c2: int, groups: int) -> nn.Module:
    """Depthwise (groups=channels) then a grouped conv (every group grows equally)."""
    return nn.Sequential(
        cbr(dim, 1, c), cbr(dim, c, c, 3, groups=c), cbr(dim, c, c2, 1),
        cbr(dim, c2, c2, 3, groups=groups), cbr(dim, c2, c2, 1, groups=groups),
        POOL[dim](1), nn.Flatten(), nn.Linear(c2, 3),
    )  # fmt: skip


class Shuffle(nn.Module):
    """ShuffleNet v1 unit (grouped 1x1, shuffle, depthwise) then a v2 unit (chunk, shuffle)."""

    def __init__(self, c: int, g: int, module_shuffle: bool) -> None:
        super().__init__()
        self.g, self.module_shuffle = g, module_shuffle
        self.stem = cbr(2, 1, c)
        self.gconv1, self.shuffle = cbr(2, c, c, 1, groups=g), nn.ChannelShuffle(g)
        self.dw, self.gconv2 = cbr(2, c, c, 3, groups=c), cbr(2, c, c, 1, groups=g)
        self.branch = cbr(2, c // 2, c // 2, 1)
        self.head = nn.Linear(c, 3)

    def channel_shuffle(self, x: torch.Tensor) -> torch.Tensor:
        if self.module_shuffle:
            return self.shuffle(x)
        b, c, h, w = x.shape
        return x.view(b, self.g, c // self.g, h, w).transpose(1, 2).reshape(b, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = F.relu(x + self.gconv2(self.dw(self.channel_shuffle(self.gconv1(x)))))
        a, b = x.chunk(2, dim=1)
        x = self.channel_shuffle(torch.cat([a, self.branch(b)], dim=1))
        return self.head(x.mean((2, 3)))


class Block(nn.Module):
    """Pre-norm transformer block from Linear layers; attention inner width is fixed."""

    def __init__(self, d: int, heads: int, hd: int, hidden: int) -> None:
        super().__init__()
        self.heads, self.hd = heads, hd
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * heads * hd), nn.Linear(heads * hd, d)
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(b, n, 3, self.heads, self.hd).unbind(2)
        att = torch.softmax(q.transpose(1, 2) @ k.permute(0, 2, 3, 1) / self.hd**0.5, dim=-1)
        o = (att @ v.transpose(1, 2)).transpose(1, 2).reshape(b, n, self.heads * self.hd)
        x = x + self.proj(o)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def transformer(d: int, heads: int, hd: int, hidden: int, layers: int) -> nn.Module:
    blocks = [Block(d, heads, hd, hidden) for _ in range(layers)]
    return nn.Sequential(nn.Linear(5, d), *blocks, nn.LayerNorm(d), nn.Linear(d, 3))


def new_width(g: net2net.WidthGroup, rng: random.Random, step: int = 1) -> int:
    """A random valid width: a multiple for norms across units, equal growth per block
    (``step``: a growth the model's own reshapes need, e.g. a channel shuffle's groups)."""
    if g.tile:
        return g.width * rng.randint(2, 3)
    return g.width + g.blocks * step * rng.randint(1, 3)


def check_every_group(build, x: torch.Tensor, seed: int, bn: bool = True, step: int = 1) -> list:
    """Widen every listed group: float64 eval (and train) rel error <= 1e-10, float32 <= 1e-5."""
    torch.manual_seed(seed)
    model = randomize_(build(), seed)
    rng = random.Random(seed)
    groups = net2net.width_groups(model, x)
    assert groups, "expected at least one width group"
    m64 = model.double()
    x64 = tree_map(lambda t: t.double() if t.is_floating_point() else t, x)
    for g in groups:
        width = new_width(g, rng, step)
        child = net2net.widen(m64, g.name, width, example_input=x64, seed=seed)
        assert type(child) is type(m64)
        parts = g.parts or (g,)  # a joint group: every part grows by the same factor
        assert all(
            handler_for(child.get_submodule(p)).width(child.get_submodule(p))
            == part.width * width // g.width
            for part in parts
            for p in part.producers
        )
        diff, scale = max_abs_diff(m64, child, x64)
        assert diff <= 1e-10 * scale, (g, width, diff, scale)
        if bn:
            diff, scale = max_abs_diff(m64, child, x64, train=True)
            assert diff <= 1e-10 * scale, ("train", g, width, diff, scale)
        check_zero_out(m64, g, width, x64, seed, bn)
    m32, g = model.float(), groups[rng.randrange(len(groups))]
    child = net2net.widen(m32, g.name, new_width(g, rng, step), example_input=x, seed=seed)
    assert all(p.dtype == torch.float32 for p in child.parameters())
    diff, scale = max_abs_diff(m32, child, x, dtype=None)
    assert diff <= 1e-5 * scale, (g, diff, scale)
    return groups


def check_zero_out(
    model: nn.Module, g: net2net.WidthGroup, width: int, x, seed: int, bn: bool
) -> None:
    """``init="zero_out"``: exact, with new units unlike any old one; refused for a group that
    must tile (a norm across its units would see the fresh units)."""
    if g.copies_only:
        assert not g.tile or g.copies_only.startswith(g.tile_reason)
        with pytest.raises(net2net.NotWidenableError, match="zero_out"):
            net2net.widen(model, g.name, width, example_input=x, init="zero_out")
        return
    child, mapping = net2net.widen_with_mapping(
        model, g.name, width, example_input=x, seed=seed, init="zero_out"
    )
    for train in (False, True) if bn else (False,):
        diff, scale = max_abs_diff(model, child, x, train=train)
        assert diff <= 1e-10 * scale, ("zero_out", train, g, width, diff, scale)
    compared = 0
    for p in g.producers:  # a new unit's incoming weights are fresh, not a copy of its source
        if f"{p}.weight" not in mapping:
            continue
        (dim, L), *_ = mapping[f"{p}.weight"]
        w = child.get_submodule(p).weight.movedim(dim, 0).flatten(1)
        kept = {int(s): i for i, s in reversed(list(enumerate(L.tolist())))}  # first slot
        for j in new_rows(L).nonzero()[:, 0].tolist():
            assert not torch.equal(w[j], w[kept[int(L[j])]]), (p, j)
            compared += 1
    assert compared or not any(f"{p}.weight" in mapping for p in g.producers)


seeds = st.integers(0, 2**16)


def check_refusals(model: nn.Module, x: torch.Tensor, groups: list) -> None:
    """A producer outside every listed group is refused by name, never widened."""
    listed = {p for g in groups for p in g.producers}
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d) and name not in listed:
            with pytest.raises(net2net.NotWidenableError, match=re.escape(f"'{name}'")):
                net2net.widen(model, name, 64, example_input=x)


@SETTINGS
@given(widths=st.lists(st.integers(2, 6), min_size=1, max_size=3), seed=seeds)
def test_random_mlps(widths: list[int], seed: int) -> None:
    x = torch.randn(5, 6)
    groups = check_every_group(lambda: mlp(widths), x, seed, bn=False)
    assert [g.width for g in groups] == widths  # every hidden layer, never the logits
    check_refusals(mlp(widths), x, groups)


@SETTINGS
@given(
    dim=st.sampled_from([1, 2]),
    widths=st.lists(st.integers(2, 5), min_size=1, max_size=3),
    size=st.integers(2, 5),
    seed=seeds,
)
def test_random_conv_bn_relu_flatten_linear(
    dim: int, widths: list[int], size: int, seed: int
) -> None:
    x = torch.randn(3, 1, *[size] * dim)
    groups = check_every_group(lambda: flat_cnn(dim, widths, size), x, seed)
    assert len(groups) == len(widths)
    assert groups[-1].consumers == (str(len(widths) + 1),)  # the Linear after the flatten


@SETTINGS
@given(
    dim=st.sampled_from([1, 2]),
    widths=st.lists(st.integers(2, 5), min_size=1, max_size=3),
    blocks=st.integers(1, 2),
    pre_act=st.booleans(),
    seed=seeds,
)
def test_random_residual_nets(
    dim: int, widths: list[int], blocks: int, pre_act: bool, seed: int
) -> None:
    x = torch.randn(2, 1, *[8] * dim)
    groups = check_every_group(lambda: resnet(dim, widths, blocks, pre_act), x, seed)
    streams = [g for g in groups if len(g.producers) > 1]
    assert len(streams) == len(widths)  # one residual stream per stage, shortcuts included
    for g in streams:
        assert all(p.endswith(("conv2", ".0", "proj.0")) for p in g.producers)


@SETTINGS
@given(
    dim=st.sampled_from([1, 2]),
    sizes=st.lists(st.integers(2, 4), min_size=5, max_size=5),  # width 1: see test_widen
    flat=st.booleans(),
    seed=seeds,
)
def test_random_inception_concatenations(dim: int, sizes: list[int], flat: bool, seed: int) -> None:
    x = torch.randn(2, 1, *[4] * dim)
    groups = check_every_group(lambda: Inception(dim, *sizes, flat), x, seed)
    reader = "head" if flat else "mix.0"
    by_name = {g.name: g for g in groups}
    for branch in ("b1.0", "b2.1.0", "b3.0"):  # each concatenated segment is its own group
        assert by_name[branch].consumers == (reader,)


@SETTINGS
@given(c=st.integers(2, 6), r=st.integers(2, 4), seed=seeds)
def test_random_squeeze_excitation(c: int, r: int, seed: int) -> None:
    groups = check_every_group(lambda: SE(c, r), torch.randn(2, 1, 5, 5), seed)
    assert groups[0].producers == ("conv.0", "fc2")  # the gate multiplies the conv's units


@SETTINGS
@given(
    dim=st.sampled_from([1, 2]),
    c=st.integers(2, 5),  # c=1: the depthwise conv is a plain conv
    groups=st.sampled_from([2, 4]),
    k=st.integers(2, 3),  # k=1: groups == channels, depthwise again
    seed=seeds,
)
def test_random_depthwise_and_grouped_convs(
    dim: int, c: int, groups: int, k: int, seed: int
) -> None:
    x = torch.randn(2, 1, *[5] * dim)
    found = check_every_group(lambda: separable(dim, c, groups * k, groups), x, seed)
    assert found[0].members == ("0.1", "1.0", "1.1")  # depthwise conv + BN replicate
    assert [g.blocks for g in found[1:]] == [groups] * 3


@SETTINGS
@given(c=st.sampled_from([4, 8]), g=st.sampled_from([2, 4]), module=st.booleans(), seed=seeds)
def test_random_channel_shuffles(c: int, g: int, module: bool, seed: int) -> None:
    x = torch.randn(2, 1, 4, 4)
    groups = net2net.width_groups(Shuffle(c, g, module), x)
    # split by chunk and blocked by the grouped convs: refused (a joint group cannot keep both)
    assert "stem.0" not in {p for gr in groups for p in gr.producers}
    check_refusals(Shuffle(c, g, module), x, groups)
    check_every_group(lambda: Shuffle(c, g, module), x, seed, step=g)  # view(b, g, c // g)


@SETTINGS
@given(
    d=st.integers(2, 6),
    heads=st.integers(1, 2),
    hd=st.integers(2, 3),
    hidden=st.integers(2, 8),
    layers=st.integers(1, 2),
    seed=seeds,
)
def test_random_pre_norm_transformers(
    d: int, heads: int, hd: int, hidden: int, layers: int, seed: int
) -> None:
    x = torch.randn(2, 3, 5)
    groups = check_every_group(lambda: transformer(d, heads, hd, hidden, layers), x, seed, bn=False)
    stream = groups[0]
    assert stream.tile and len(stream.producers) == 1 + 2 * layers
    assert len(stream.members) == 2 * layers + 1  # every LayerNorm on the stream
    assert [g.name for g in groups[1:]] == [f"{i}.fc1" for i in range(1, layers + 1)]
