"""The handler table: lookup, what each torch.nn handler claims, registering a new layer type."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from nas import net2net
from nas.net2net.graph import symbolic_trace
from nas.net2net.width.attention import MultiheadAttentionHandler
from nas.net2net.width.handlers import HANDLERS, handler_for
from nas.net2net.width.nn_handlers import ConvHandler, DepthwiseConvHandler, LinearHandler

README = Path(__file__).resolve().parents[2] / "README.md"

# module, a batch it accepts
CASES = {
    "linear": (lambda: nn.Linear(5, 6), (2, 3, 5)),
    "conv1d": (lambda: nn.Conv1d(4, 6, 3, padding=1), (2, 4, 9)),
    "conv2d_grouped": (lambda: nn.Conv2d(4, 6, 3, groups=2, stride=2), (2, 4, 7, 7)),
    "conv2d_reflect": (lambda: nn.Conv2d(3, 5, 3, padding=1, padding_mode="reflect"), (1, 3, 6, 6)),
    "conv3d": (lambda: nn.Conv3d(2, 3, 2), (1, 2, 4, 4, 4)),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), (2, 4, 5, 5)),
    "depthwise": (lambda: nn.Conv2d(4, 4, 3, groups=4, padding=1), (2, 4, 6, 6)),
    "embedding": (lambda: nn.Embedding(10, 6), None),
    "batchnorm1d": (lambda: nn.BatchNorm1d(4), (3, 4, 5)),
    "batchnorm2d": (lambda: nn.BatchNorm2d(4), (3, 4, 5, 5)),
    "instancenorm1d": (lambda: nn.InstanceNorm1d(4, affine=True), (3, 4, 5)),
    "layernorm": (lambda: nn.LayerNorm(6), (2, 3, 6)),
    "rmsnorm": (lambda: nn.RMSNorm(6), (2, 3, 6)),
    "groupnorm": (lambda: nn.GroupNorm(2, 6), (2, 6, 5)),
    "prelu": (lambda: nn.PReLU(4), (2, 4, 5)),
    "prelu_shared": (lambda: nn.PReLU(), (2, 4, 5)),
}


def _input(name: str, shape: tuple[int, ...] | None) -> torch.Tensor:
    if shape is None:  # embedding: integer ids
        return torch.randint(10, (2, 7), generator=torch.Generator().manual_seed(0))
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def test_lookup_follows_the_class_hierarchy() -> None:
    class MyLinear(nn.Linear):
        pass

    assert isinstance(handler_for(nn.Linear(2, 3)), LinearHandler)
    assert handler_for(MyLinear(2, 3)) is handler_for(nn.Linear(2, 3))  # subclasses match
    assert isinstance(handler_for(nn.Conv2d(4, 8, 3, groups=4)), ConvHandler)  # grouped
    assert isinstance(handler_for(nn.Conv2d(4, 4, 3, groups=4)), DepthwiseConvHandler)
    assert isinstance(handler_for(nn.ConvTranspose2d(4, 4, 3, groups=4)), ConvHandler)
    assert handler_for(nn.ReLU()) is None  # parameterless modules are ops, not handlers
    assert handler_for(nn.Bilinear(2, 2, 3)) is None
    mha = handler_for(nn.MultiheadAttention(8, 2))
    assert isinstance(mha, MultiheadAttentionHandler) and mha.kind == "attention" and mha.tile
    kinds = {type(h).__name__: h.kind for h in HANDLERS.values()}
    assert {"producer", "channel", "attention"} <= set(kinds.values())


@pytest.mark.parametrize("name", list(CASES))
def test_each_handler_describes_its_module(name: str) -> None:
    """Shapes on the meta device match the real module; parameter dims hold the units."""
    build, shape = CASES[name]
    m = build().eval()
    x = _input(name, shape)
    h = handler_for(m)
    assert h is not None and h.kind in ("producer", "channel")
    with torch.no_grad():
        real = m(x)
    meta_x = torch.empty_like(x, device="meta")
    in_axis = h.in_axis(m, meta_x)
    width = h.width(m) if h.kind == "producer" else x.shape[in_axis] if in_axis is not None else 0
    out = h.meta_output(m, meta_x, width)
    assert out.device.type == "meta" and out.shape == real.shape and out.dtype == real.dtype
    params = h.params(m)
    checked = 0
    for pname, dims in params.items():
        t = getattr(m, pname, None)  # e.g. no bias, no running stats
        if t is None:
            continue
        assert set(dims) <= {"out", "in", "chan"} and dims, pname
        if "out" in dims:
            per = h.groups(m) if "in" in dims and dims["in"] < dims["out"] else 1  # transposed
            assert t.shape[dims["out"]] * per == h.width(m) == out.shape[h.out_axis(m, out)]
        if "in" in dims:
            per = h.groups(m) if dims["in"] > dims.get("out", -1) else 1
            assert t.shape[dims["in"]] * per == x.shape[in_axis]
        if "chan" in dims:
            assert t.shape[dims["chan"]] == x.shape[in_axis]
        checked += 1
    if name == "prelu_shared":  # one slope for every channel: reads no units, has no unit dims
        assert in_axis is None and params == {}
    else:
        assert checked > 0


def _sizes(m: nn.Module) -> dict:
    """The module's integer size attributes (ints and 1-tuples: normalized_shape)."""
    return {
        k: v
        for k, v in vars(m).items()
        if (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, tuple) and len(v) == 1 and isinstance(v[0], int))
    }


@pytest.mark.parametrize("name", [n for n in CASES if n != "prelu_shared"])
def test_resize_records_the_new_size_and_nothing_else(name: str) -> None:
    build, shape = CASES[name]
    m, x = build(), _input(name, shape)
    h = handler_for(m)
    in_axis = h.in_axis(m, torch.empty_like(x, device="meta"))
    old = h.width(m) if h.kind == "producer" else x.shape[in_axis]
    before = _sizes(m)
    h.resize(m, 2 * old, None) if h.kind == "producer" else h.resize(m, None, 2 * old)
    after = _sizes(m)
    changed = [k for k in before if before[k] != after[k]]
    assert changed, "resize changed no size attribute"
    for k in changed:
        assert before[k] in (old, (old,)) and after[k] in (2 * old, (2 * old,)), k


def _readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "register_handler" in b]
    return block


def test_readme_custom_layer_example_widens_exactly(capsys) -> None:
    """The README's example, run as written: a custom per-channel layer made widenable."""
    scope: dict = {}
    exec(compile(_readme_example(), "README.md", "exec"), scope)
    model, wide, x = scope["model"], scope["wide"], scope["x"]
    assert capsys.readouterr().out.splitlines()[0] == "['0']"
    assert isinstance(wide[1], scope["ChannelScale"]) and wide[1].channels == 12
    assert wide[0].out_channels == 12 and wide[4].in_features == 12 * 38
    assert torch.equal(wide[1].gain[:8], model[1].gain)  # old units keep their place
    assert all(bool((model[1].gain == g).any()) for g in wide[1].gain[8:])  # copies
    assert net2net.preservation_error(model, wide, x) <= 1e-12
    gm = symbolic_trace(model)
    kept = [n.target for n in gm.graph.nodes if n.op == "call_module"]
    assert "1" in kept  # registered: the layer is one node of the trace, not its forward


def test_the_same_layer_unregistered_grows_its_tensor_attribute() -> None:
    """Without a handler the layer is traced into: ``x * self.gain[:, None]`` multiplies the
    units by a tensor attribute, which then grows with them like a per-channel module."""

    class Unregistered(nn.Module):  # the README's ChannelScale, with no handler
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.gain = nn.Parameter(torch.rand(channels) + 0.5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.gain[:, None]

    model = nn.Sequential(nn.Conv1d(1, 8, 3), Unregistered(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 38, 10))  # fmt: skip
    x = torch.randn(4, 1, 40)
    (group,) = net2net.width_groups(model, x)
    assert group.params == (("1.gain", 0, 0),)
    wide = net2net.widen(model.double(), "0", 12, example_input=x.double(), seed=0)
    assert wide[1].gain.shape == (12,) and torch.equal(wide[1].gain[:8], model[1].gain)
    assert net2net.preservation_error(model, wide, x.double()) <= 1e-12
