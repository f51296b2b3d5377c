"""The handlers of torch.nn's layers (Linear, Conv, Embedding, norms, PReLU); attention is in
``attention``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..graph import CONV_TRANSPOSES, CONVS
from .handlers import (
    ChannelHandler,
    Handler,
    ParamDims,
    ProducerHandler,
    register_handler,
)

__all__ = ["is_depthwise"]


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

    def for_module(self, m: nn.Module) -> Handler:
        return _DEPTHWISE if is_depthwise(m) else self


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
