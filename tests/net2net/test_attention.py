"""Contract tests for attention on a widened stream: nn.MultiheadAttention in every form the
handler accepts widens exactly (float64, relative error <= 1e-12), and the forms it does not
accept are refused by name."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_widen_properties import SETTINGS, check_every_group, seeds
from torch import nn

from nas import net2net
from nas.net2net.verify import max_abs_diff


class Encoder(nn.Module):
    """Patch-free ViT: input projection, class token, position embedding, pre-norm blocks with
    nn.MultiheadAttention, optional causal mask (a buffer) and key padding mask (an input)."""

    def __init__(self, hd: int, heads: int, batch_first: bool, bias: bool, bias_kv: bool,
                 causal: bool, layers: int = 2, seq: int = 5) -> None:  # fmt: skip
        super().__init__()
        d = hd * heads
        self.batch_first = batch_first
        self.inp = nn.Linear(3, d)
        self.cls = nn.Parameter(torch.randn(1, 1, d))
        self.pos = nn.Parameter(torch.randn(1, seq + 1, d))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(2 * layers))
        self.attn = nn.ModuleList(
            nn.MultiheadAttention(d, heads, bias=bias, add_bias_kv=bias_kv, batch_first=batch_first)
            for _ in range(layers)
        )
        self.mlp = nn.ModuleList(
            nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
            for _ in range(layers)
        )
        self.out_norm, self.head = nn.LayerNorm(d), nn.Linear(d, 4)
        mask = torch.triu(torch.full((seq + 1, seq + 1), float("-inf")), 1) if causal else None
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1) + self.pos
        if not self.batch_first:
            h = h.transpose(0, 1)
        for i, (attn, mlp) in enumerate(zip(self.attn, self.mlp, strict=True)):
            y = self.norms[2 * i](h)
            h = h + attn(y, y, y, key_padding_mask=padding, attn_mask=self.mask)[0]
            h = h + mlp(self.norms[2 * i + 1](h))
        h = h[:, 0] if self.batch_first else h[0]
        return self.head(self.out_norm(h))


def batch(seq: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    padding = torch.zeros(2, seq + 1)
    padding[1, -2:] = float("-inf")  # the second sequence is shorter (a float mask, like the
    # causal one, which is a floating buffer: tagged per element, and still not a unit)
    return torch.randn(2, seq, 3, generator=g), padding


@SETTINGS
@given(
    hd=st.integers(2, 3),  # d = 1 is a single unit: refused
    heads=st.integers(1, 3),
    batch_first=st.booleans(),
    bias=st.booleans(),
    bias_kv=st.booleans(),
    causal=st.booleans(),
    seed=seeds,
)
def test_random_attention_encoders(
    hd: int, heads: int, batch_first: bool, bias: bool, bias_kv: bool, causal: bool, seed: int
) -> None:
    x, padding = batch()
    build = lambda: Encoder(hd, heads, batch_first, bias, bias_kv, causal)  # noqa: E731
    groups = check_every_group(build, (x, padding), seed, bn=False)
    stream = groups[0]
    assert stream.tile and stream.producers[:2] == ("inp", "attn.0")
    assert {p for p, _, _ in stream.params} == {"cls", "pos"}
    assert [g.name for g in groups[1:]] == ["mlp.0.0", "mlp.1.0"]


def test_heads_are_copied_whole_and_logits_kept() -> None:
    torch.manual_seed(0)
    model = Encoder(
        hd=2, heads=3, batch_first=True, bias=True, bias_kv=False, causal=False
    ).double()
    x, padding = batch()
    x = x.double()
    wide = net2net.widen(model, "inp", 18, example_input=(x, padding))
    a, b = model.attn[0], wide.attn[0]
    assert (b.embed_dim, b.num_heads, b.head_dim) == (18, 9, 2)  # heads x3, head_dim kept
    q_old, q_new = a.in_proj_weight[:6], b.in_proj_weight[:18]
    # head h + 3r has head h's query rows; its stream columns are split over the copies
    assert torch.allclose(q_new[6:12].reshape(6, 3, 6).sum(1), q_old, atol=1e-15)
    diff, scale = max_abs_diff(model, wide, (x, padding))
    assert diff <= 1e-12 * scale


def test_cross_attention_and_kv_dims_are_refused_by_name() -> None:
    class Cross(nn.Module):
        def __init__(self, kdim: int | None) -> None:
            super().__init__()
            self.q, self.kv = nn.Linear(3, 4), nn.Linear(3, kdim or 4)
            self.attn = nn.MultiheadAttention(4, 2, kdim=kdim, vdim=kdim, batch_first=True)
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            m = self.kv(x)
            return self.head(self.attn(self.q(x), m, m)[0] + self.q(x))

    x = torch.randn(2, 5, 3)
    for kdim, why in ((None, "cross-attention is not widened"), (6, "kdim, vdim")):
        model = Cross(kdim)
        with pytest.raises(net2net.NotWidenableError, match=why):
            net2net.widen(model, "q", 8, example_input=x)
        assert "q" not in [g.name for g in net2net.width_groups(model, x)]


def test_attention_off_the_residual_stream_grows_with_its_input() -> None:
    """nn.MultiheadAttention needs its input as wide as its heads: when the input is not the
    residual stream, the producer of the input and the attention still form one group."""
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp, self.head = nn.Linear(3, 4), nn.Linear(4, 2)
            self.attn = nn.MultiheadAttention(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.inp(x)
            return self.head(self.attn(h, h, h)[0].mean(0))

    net, x = Net().double().eval(), torch.randn(5, 2, 3, dtype=torch.float64)
    (group,) = net2net.width_groups(net, x)
    assert group.producers == ("inp", "attn") and group.tile
    wide = net2net.widen(net, group, 8, example_input=x)
    assert wide.attn.num_heads == 4 and net2net.preservation_error(net, wide, x) <= 1e-12
