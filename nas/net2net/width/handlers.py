"""Per-module-type handlers: how a layer reads and produces units, and how to resize it.

A handler is a small class; one instance serves every module of the types it is registered for
(subclasses included). Three kinds:

- :class:`ProducerHandler` (Linear, Conv, Embedding): emits one new unit per output row; its
  input columns are read units (it is a *consumer* of the group before it).
- :class:`ChannelHandler` (norms, PReLU, depthwise conv): per-channel, its output units are its
  input units; its per-channel parameters are copied along with them.
- :class:`OpaqueHandler`: known, but refused with a reason.

Make a new module type widenable by subclassing one of them and registering it::

    @register_handler(ChannelScale)
    class ChannelScaleHandler(ChannelHandler):
        def params(self, m):  # gain[c] belongs to unit c
            return {"gain": {"chan": 0}}

        def resize(self, m, out, inp):  # keep the module's own record of its size true
            m.channels = inp

Registering also makes torch.fx keep calls of exactly those types as one node (it traces into
the ``forward`` of modules outside ``torch.nn`` otherwise), so the handler sees every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from ..graph import CONV_TRANSPOSES, CONVS, keep_whole

__all__ = [
    "HANDLERS",
    "ChannelHandler",
    "Handler",
    "OpaqueHandler",
    "ProducerHandler",
    "handler_for",
    "register_handler",
]

#: parameter name -> {role: dim}; role ``out`` (rows: one per produced unit), ``in`` (columns:
#: one per read unit) or ``chan`` (one per carried unit)
ParamDims = dict[str, dict[str, int]]


class Handler:
    """How modules of one type take part in widening. Subclass one of the three kinds below.

    Every method gets the module ``m``; tensors passed in are meta tensors (shapes only).
    """

    kind: ClassVar[str] = "opaque"
    #: normalizes across its units: exact only when every unit is replicated equally
    tile: ClassVar[bool] = False
    #: why an opaque module is refused, or what a ``tile`` module does to its units
    reason: ClassVar[str] = ""

    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int | None:
        """Axis of the input ``x`` along which the module reads units (None: none per unit)."""
        return None

    def out_axis(self, m: nn.Module, y: torch.Tensor) -> int:
        """Axis of the output ``y`` along which a producer emits its units."""
        return 1

    def meta_output(self, m: nn.Module, x: torch.Tensor, width: int) -> torch.Tensor:
        """The output for input ``x`` when the module has ``width`` units (a meta tensor)."""
        return x

    def width(self, m: nn.Module) -> int:
        """A producer's number of units."""
        return 0

    def params(self, m: nn.Module) -> ParamDims:
        """Which dimension of each parameter / buffer holds units, by role (see ``ParamDims``)."""
        return {}

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        """Set the module's size attributes after its ``out`` rows or ``inp`` columns /
        channels changed (None: unchanged); the tensors themselves are already replaced."""

    def groups(self, m: nn.Module) -> int:
        """Into how many blocks a grouped layer splits its units (each block grows equally)."""
        return 1


class ProducerHandler(Handler):
    """Emits new units (rows ``out`` of its parameters) and reads units (columns ``in``)."""

    kind = "producer"


class ChannelHandler(Handler):
    """Per-channel: carries its input units to its output; parameters ``chan`` follow them."""

    kind = "channel"

    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int | None:
        return 1 if x.ndim > 1 else 0  # channels first; unbatched 1D input: axis 0


class OpaqueHandler(Handler):
    """Known and refused: the units it touches cannot be widened (``reason`` says why)."""


HANDLERS: dict[type[nn.Module], Handler] = {}

H = TypeVar("H", bound=type[Handler])


def register_handler(*types: type[nn.Module]) -> Callable[[H], H]:
    """Class decorator: widen modules of ``types`` (and their subclasses) with this handler.

    Calls of modules of exactly these types are traced as single nodes from then on.
    """

    def deco(cls: H) -> H:
        handler = cls()
        for t in types:
            HANDLERS[t] = handler
        keep_whole(*types)
        return cls

    return deco


def handler_for(m: nn.Module) -> Handler | None:
    """The handler of ``m``'s type (nearest registered base class), or None."""
    for cls in type(m).__mro__:
        if cls in HANDLERS:
            h = HANDLERS[cls]
            return _DEPTHWISE if isinstance(h, ConvHandler) and is_depthwise(m) else h
    return None


def _empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.empty(shape, device="meta", dtype=like.dtype)


# ---- producers -----------------------------------------------------------------------------------


@register_handler(nn.Linear)
class LinearHandler(ProducerHandler):
    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int:
        return x.ndim - 1

    def out_axis(self, m: nn.Module, y: torch.Tensor) -> int:
        return y.ndim - 1

    def meta_output(self, m: nn.Module, x: torch.Tensor, width: int) -> torch.Tensor:
        return _empty((*x.shape[:-1], width), x)

    def width(self, m: nn.Module) -> int:
        return m.out_features

    def params(self, m: nn.Module) -> ParamDims:
        return {"weight": {"out": 0, "in": 1}, "bias": {"out": 0}}

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        if out is not None:
            m.out_features = out
        if inp is not None:
            m.in_features = inp


def is_depthwise(m: nn.Module) -> bool:
    """A (not transposed) conv with groups == in == out channels: per channel, not a producer."""
    return (
        isinstance(m, nn.modules.conv._ConvNd)
        and not isinstance(m, CONV_TRANSPOSES)
        and m.groups > 1
        and m.groups == m.in_channels == m.out_channels
    )


def _channel_axis(m: nn.Module, t: torch.Tensor) -> int:
    return t.ndim - len(m.kernel_size) - 1


def _conv_meta(m: nn.Module, x: torch.Tensor, w: int) -> torch.Tensor:
    nd = len(m.kernel_size)
    cin = x.shape[_channel_axis(m, x)]
    groups = cin if is_depthwise(m) else m.groups
    transposed = isinstance(m, CONV_TRANSPOSES)
    shape = (cin, w // groups) if transposed else (w, cin // groups)
    weight = _empty((*shape, *m.kernel_size), x)
    if transposed:
        fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
        return fn(x, weight, None, m.stride, m.padding, m.output_padding, groups, m.dilation)
    padding = m.padding
    if m.padding_mode != "zeros":
        x = F.pad(x, m._reversed_padding_repeated_twice, mode=m.padding_mode)
        padding = 0
    fn = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    return fn(x, weight, None, m.stride, padding, m.dilation, groups)


@register_handler(*CONVS)
class ConvHandler(ProducerHandler):
    """Conv and ConvTranspose, 1-3d, grouped or not (depthwise convs get DepthwiseConvHandler)."""

    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int:
        return _channel_axis(m, x)

    def out_axis(self, m: nn.Module, y: torch.Tensor) -> int:
        return _channel_axis(m, y)

    def meta_output(self, m: nn.Module, x: torch.Tensor, width: int) -> torch.Tensor:
        return _conv_meta(m, x, width)

    def width(self, m: nn.Module) -> int:
        return m.out_channels

    def params(self, m: nn.Module) -> ParamDims:
        if isinstance(m, CONV_TRANSPOSES):
            return {"weight": {"in": 0, "out": 1}, "bias": {"out": 0}}
        return {"weight": {"out": 0, "in": 1}, "bias": {"out": 0}}

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        if out is not None:
            m.out_channels = out
        if inp is not None:
            m.in_channels = inp

    def groups(self, m: nn.Module) -> int:
        return m.groups


class DepthwiseConvHandler(ChannelHandler):
    """Depthwise conv (groups == in == out): per channel, it replicates with its input channel."""

    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int:
        return _channel_axis(m, x)

    def meta_output(self, m: nn.Module, x: torch.Tensor, width: int) -> torch.Tensor:
        return _conv_meta(m, x, width)

    def params(self, m: nn.Module) -> ParamDims:
        return {"weight": {"chan": 0}, "bias": {"chan": 0}}

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        if inp is not None:
            m.in_channels = m.out_channels = m.groups = inp


_DEPTHWISE = DepthwiseConvHandler()


@register_handler(nn.Embedding)
class EmbeddingHandler(ProducerHandler):
    def out_axis(self, m: nn.Module, y: torch.Tensor) -> int:
        return y.ndim - 1

    def meta_output(self, m: nn.Module, x: torch.Tensor, width: int) -> torch.Tensor:
        return _empty((*x.shape, width), m.weight)

    def width(self, m: nn.Module) -> int:
        return m.embedding_dim

    def params(self, m: nn.Module) -> ParamDims:
        return {"weight": {"out": 1}}

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        if out is not None:
            m.embedding_dim = out


# ---- per-channel -----------------------------------------------------------------------------------

_CHAN = {"chan": 0}


@register_handler(
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
)  # fmt: skip
class BatchNormHandler(ChannelHandler):
    def params(self, m: nn.Module) -> ParamDims:
        return {"weight": _CHAN, "bias": _CHAN, "running_mean": _CHAN, "running_var": _CHAN}

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        if inp is not None:
            m.num_features = inp


@register_handler(nn.LayerNorm, nn.RMSNorm)
class LayerNormHandler(ChannelHandler):
    tile = True
    reason = "normalizes across its units"

    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int | None:
        return x.ndim - 1 if len(m.normalized_shape) == 1 else None

    def params(self, m: nn.Module) -> ParamDims:
        return {"weight": _CHAN, "bias": _CHAN}

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        if inp is not None:
            m.normalized_shape = (inp,)


@register_handler(nn.GroupNorm)
class GroupNormHandler(ChannelHandler):
    tile = True
    reason = "normalizes across the units of each group"

    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int:
        return 1

    def params(self, m: nn.Module) -> ParamDims:
        return {"weight": _CHAN, "bias": _CHAN}

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        if inp is not None:
            m.num_channels = inp

    def groups(self, m: nn.Module) -> int:
        return m.num_groups


@register_handler(nn.PReLU)
class PReLUHandler(ChannelHandler):
    """One slope per channel, or a single shared slope (then it reads no units)."""

    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int | None:
        return super().in_axis(m, x) if m.num_parameters > 1 else None

    def params(self, m: nn.Module) -> ParamDims:
        return {"weight": _CHAN} if m.num_parameters > 1 else {}

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        if inp is not None and m.num_parameters > 1:
            m.num_parameters = inp


@register_handler(nn.MultiheadAttention)
class MultiheadAttentionHandler(OpaqueHandler):
    reason = (
        "nn.MultiheadAttention is not widened (per-head widening is not implemented); "
        "its embedding width is fixed"
    )
