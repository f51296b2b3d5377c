"""record_shapes skips arithmetic (meta tensors, shape-only attention): the shapes it records
must be those a real forward produces."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision
from torch import nn

from nas.net2net.depth.types import _attention_shapes, record_shapes


@pytest.mark.parametrize(
    ("batch_first", "batched", "need_weights", "average", "kdim"),
    list(itertools.product([True, False], [True, False], [True, False], [True, False], [None, 5])),
)
def test_shape_only_attention_matches_multihead_attention(
    batch_first: bool, batched: bool, need_weights: bool, average: bool, kdim: int | None
) -> None:
    torch.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, batch_first=batch_first, kdim=kdim, vdim=kdim).eval()
    q_len, k_len, n = 3, 7, 4
    lead = ((n,) if batch_first else ()) if batched else ()
    trail = () if batch_first or not batched else (n,)
    q = torch.randn(*lead, q_len, *trail, 8)
    k = torch.randn(*lead, k_len, *trail, kdim or 8)
    args = dict(need_weights=need_weights, average_attn_weights=average)
    real = m(q, k, k, **args)
    fake = _attention_shapes(m)(q.to("meta"), k.to("meta"), k.to("meta"), **args)
    assert fake[0].shape == real[0].shape and fake[0].device.type == "meta"
    assert (fake[1] is None) == (real[1] is None) == (not need_weights)
    if need_weights:
        assert fake[1].shape == real[1].shape


def test_recorded_shapes_of_a_vision_transformer_are_those_of_a_real_forward() -> None:
    model = torchvision.models.VisionTransformer(32, 8, 2, 2, 16, 32, num_classes=5).eval()
    x = torch.randn(2, 3, 32, 32)
    real: dict[str, tuple] = {}

    def hook(name: str):
        def record(_m: nn.Module, args: tuple, out: object) -> None:
            first = args[0] if args and torch.is_tensor(args[0]) else None
            shapes = (None if first is None else tuple(first.shape),
                      tuple(out.shape) if torch.is_tensor(out) else None)  # fmt: skip
            real.setdefault(name, shapes)

        return record

    hooks = [m.register_forward_hook(hook(name)) for name, m in model.named_modules()]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    recorded = record_shapes(model, x)
    assert recorded.keys() == real.keys()
    assert {k: (r.in_shape, r.out_shape) for k, r in recorded.items()} == real
    assert "forward" not in vars(model.encoder.layers[0].self_attention)  # put back
