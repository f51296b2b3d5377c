"""Per-module-type handlers: how a layer reads and produces units, and how to resize it.

A handler says which axis of the input holds the units a module *reads* (its columns), which axis
of its output holds the units it *produces* (its rows), which parameter dimensions are rows /
columns / per-channel, and how to compute its output shape on the meta device. Register a handler
for a new module type with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HANDLERS", "Handler", "handler_for", "register"]


def _empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.empty(shape, device="meta", dtype=like.dtype)


@dataclass
class Handler:
    """How one module type takes part in widening.

    kind: ``producer`` (emits new units: Linear, Conv, Embedding), ``channel`` (per-channel:
    norms, PReLU, depthwise conv; output units are its input units) or ``opaque`` (refused).
    """

    kind: str
    in_axis: Callable[[nn.Module, torch.Tensor], int | None] = lambda m, x: None
    out_axis: Callable[[nn.Module, torch.Tensor], int] = lambda m, y: 1
    meta: Callable[[nn.Module, torch.Tensor, int], torch.Tensor] = lambda m, x, w: x
    width: Callable[[nn.Module], int] = lambda m: 0
    params: Callable[[nn.Module], dict[str, dict[str, int]]] = lambda m: {}
    attrs: Callable[[nn.Module, int | None, int | None], None] = lambda m, o, i: None
    groups: Callable[[nn.Module], int] = lambda m: 1
    tile: bool = (
        False  # normalizes across its units: exact only if every unit is replicated equally
    )
    reason: str = ""
    extra: dict = field(default_factory=dict)


HANDLERS: dict[type[nn.Module], Handler] = {}


def register(*types: type[nn.Module]) -> Callable[[Handler], Handler]:
    """Register ``handler`` for module ``types`` (subclasses are matched too)."""

    def deco(h: Handler) -> Handler:
        for t in types:
            HANDLERS[t] = h
        return h

    return deco


def handler_for(m: nn.Module) -> Handler | None:
    """The handler of ``m``'s type (nearest registered base class), or None."""
    for cls in type(m).__mro__:
        if cls in HANDLERS:
            h = HANDLERS[cls]
            if cls in _CONVS and _is_depthwise(m):
                return _DEPTHWISE
            return h
    return None


# ---- producers -----------------------------------------------------------------------------------


def _linear_attrs(m: nn.Module, out: int | None, inp: int | None) -> None:
    if out is not None:
        m.out_features = out
    if inp is not None:
        m.in_features = inp


register(nn.Linear)(
    Handler(
        "producer",
        in_axis=lambda m, x: x.ndim - 1,
        out_axis=lambda m, y: y.ndim - 1,
        meta=lambda m, x, w: _empty((*x.shape[:-1], w), x),
        width=lambda m: m.out_features,
        params=lambda m: {"weight": {"out": 0, "in": 1}, "bias": {"out": 0}},
        attrs=_linear_attrs,
    )
)


def _nd(m: nn.Module) -> int:
    return len(m.kernel_size)


def _conv_meta(m: nn.Module, x: torch.Tensor, w: int) -> torch.Tensor:
    cin = x.shape[x.ndim - _nd(m) - 1]
    groups = cin if _is_depthwise(m) else m.groups
    transposed = isinstance(m, nn.modules.conv._ConvTransposeNd)
    shape = (cin, w // groups) if transposed else (w, cin // groups)
    weight = _empty((*shape, *m.kernel_size), x)
    if transposed:
        fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[_nd(m) - 1]
        return fn(x, weight, None, m.stride, m.padding, m.output_padding, groups, m.dilation)
    padding = m.padding
    if m.padding_mode != "zeros":
        x = F.pad(x, m._reversed_padding_repeated_twice, mode=m.padding_mode)
        padding = 0
    fn = (F.conv1d, F.conv2d, F.conv3d)[_nd(m) - 1]
    return fn(x, weight, None, m.stride, padding, m.dilation, groups)


def _conv_attrs(m: nn.Module, out: int | None, inp: int | None) -> None:
    if out is not None:
        m.out_channels = out
    if inp is not None:
        m.in_channels = inp


def _conv_params(m: nn.Module) -> dict[str, dict[str, int]]:
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        return {"weight": {"in": 0, "out": 1}, "bias": {"out": 0}}
    return {"weight": {"out": 0, "in": 1}, "bias": {"out": 0}}


_CONVS = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
register(*_CONVS)(
    Handler(
        "producer",
        in_axis=lambda m, x: x.ndim - _nd(m) - 1,
        out_axis=lambda m, y: y.ndim - _nd(m) - 1,
        meta=_conv_meta,
        width=lambda m: m.out_channels,
        params=_conv_params,
        attrs=_conv_attrs,
        groups=lambda m: m.groups,
    )
)


def _is_depthwise(m: nn.Module) -> bool:
    return (
        isinstance(m, nn.modules.conv._ConvNd)
        and not isinstance(m, nn.modules.conv._ConvTransposeNd)
        and m.groups > 1
        and m.groups == m.in_channels == m.out_channels
    )


def _dw_attrs(m: nn.Module, out: int | None, inp: int | None) -> None:
    if inp is not None:
        m.in_channels = m.out_channels = m.groups = inp


# Depthwise conv (groups == in == out): per channel, it replicates with its input channel.
_DEPTHWISE = Handler(
    "channel",
    in_axis=lambda m, x: x.ndim - _nd(m) - 1,
    meta=_conv_meta,
    params=lambda m: {"weight": {"chan": 0}, "bias": {"chan": 0}},
    attrs=_dw_attrs,
)

register(nn.Embedding)(
    Handler(
        "producer",
        out_axis=lambda m, y: y.ndim - 1,
        meta=lambda m, x, w: _empty((*x.shape, w), m.weight),
        width=lambda m: m.embedding_dim,
        params=lambda m: {"weight": {"out": 1}},
        attrs=lambda m, o, i: setattr(m, "embedding_dim", o) if o is not None else None,
    )
)


# ---- per-channel -----------------------------------------------------------------------------------

_CHAN = {"chan": 0}


def _set(*names: str) -> Callable[[nn.Module, int | None, int | None], None]:
    def attrs(m: nn.Module, out: int | None, inp: int | None) -> None:
        if inp is None:
            return
        for n in names:
            value = (inp,) if n == "normalized_shape" else inp
            setattr(m, n, value)

    return attrs


_BN_PARAMS = {"weight": _CHAN, "bias": _CHAN, "running_mean": _CHAN, "running_var": _CHAN}
register(
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
)(
    Handler(
        "channel",
        in_axis=lambda m, x: 1 if x.ndim > 1 else 0,
        params=lambda m: _BN_PARAMS,
        attrs=_set("num_features"),
    )
)


def _last_norm(m: nn.Module, x: torch.Tensor) -> int | None:
    return x.ndim - 1 if len(m.normalized_shape) == 1 else None


register(nn.LayerNorm, nn.RMSNorm)(
    Handler(
        "channel",
        in_axis=_last_norm,
        params=lambda m: {"weight": _CHAN, "bias": _CHAN},
        attrs=_set("normalized_shape"),
        tile=True,
        reason="normalizes across its units",
    )
)
register(nn.GroupNorm)(
    Handler(
        "channel",
        in_axis=lambda m, x: 1,
        params=lambda m: {"weight": _CHAN, "bias": _CHAN},
        attrs=_set("num_channels"),
        groups=lambda m: m.num_groups,
        tile=True,
        reason="normalizes across the units of each group",
    )
)
register(nn.PReLU)(
    Handler(
        "channel",
        in_axis=lambda m, x: (1 if x.ndim > 1 else 0) if m.num_parameters > 1 else None,
        params=lambda m: {"weight": _CHAN} if m.num_parameters > 1 else {},
        attrs=lambda m, o, i: (
            setattr(m, "num_parameters", i) if i is not None and m.num_parameters > 1 else None
        ),
    )
)

register(nn.MultiheadAttention)(
    Handler(
        "opaque",
        reason="nn.MultiheadAttention is not widened (per-head widening is not implemented); "
        "its embedding width is fixed",
    )
)
