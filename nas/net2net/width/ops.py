"""How each traced op treats channel tags, by name (functions, tensor methods, parameter-free modules).

Kinds:
- ``elementwise``: output position i depends only on input position i (after broadcasting); tagged
  operands meeting at a position are one unit (residual add, SE gating).
- ``move``: pure data movement (cat, split, reshape, permute, shuffle, ...): applied to the ids.
- ``spatial``: pooling / resampling over the dimensions after the channel axis.
- ``reduce_mean`` / ``reduce_max`` / ``reduce_other``: reductions; over unit dimensions a mean
  needs every unit replicated equally, a max is unchanged by replication, anything else refuses.
- ``along``: normalizes along one dim (softmax); refuses when that dim carries units.
- ``meta``: returns shapes / ints only (size, dim, getattr).
- ``fnorm``: functional norms, like their module forms; ``sdpa``: scaled dot-product attention.
Anything not listed is opaque: its tagged inputs are refused, its output is untagged.
"""

from __future__ import annotations

import operator
from typing import Any

from torch import nn

__all__ = ["MODULE_KINDS", "op_kind"]

_ELEMENTWISE = {
    "add", "add_", "iadd", "sub", "sub_", "isub", "rsub", "mul", "mul_", "imul", "truediv", "div",
    "div_", "itruediv", "floordiv", "neg", "pos", "abs", "exp", "log", "log1p", "expm1", "sqrt",
    "rsqrt", "pow", "square", "reciprocal", "sign", "sin", "cos", "tanh", "tanh_", "sigmoid",
    "sigmoid_", "relu", "relu_", "relu6", "gelu", "silu", "mish", "elu", "selu", "celu",
    "leaky_relu", "hardswish", "hardsigmoid", "hardtanh", "softplus", "softsign", "logsigmoid",
    "tanhshrink", "hardshrink", "softshrink", "threshold", "erf", "clamp", "clamp_", "clamp_min",
    "clamp_max", "clip", "maximum", "minimum", "where", "lerp", "addcmul", "addcdiv",
    "masked_fill", "masked_fill_", "dropout", "dropout1d", "dropout2d", "dropout3d",
    "alpha_dropout", "feature_alpha_dropout", "stochastic_depth", "contiguous", "clone", "detach", "float", "double",
    "half", "bfloat16", "to", "type", "type_as", "nan_to_num", "mod", "fmod",
}  # fmt: skip
_MOVE = {
    "flatten", "reshape", "view", "permute", "transpose", "t", "movedim", "moveaxis", "swapaxes",
    "swapdims", "squeeze", "unsqueeze", "cat", "concat", "concatenate", "stack", "hstack",
    "vstack", "split", "split_with_sizes", "tensor_split", "chunk", "unbind", "getitem", "narrow",
    "select", "expand", "expand_as", "repeat", "tile", "flip", "roll", "view_as", "reshape_as",
    "unflatten", "channel_shuffle", "native_channel_shuffle", "pixel_shuffle", "pixel_unshuffle",
    "index_select", "repeat_interleave",
    "_patch_merging_pad",  # torchvision's Swin (fx-wrapped): pad, 2x2 strided slices, cat
}  # fmt: skip
_SPATIAL = {
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
    "adaptive_max_pool2d", "adaptive_max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "max_pool1d", "max_pool2d", "max_pool3d", "interpolate", "upsample", "upsample_nearest",
    "upsample_bilinear", "lp_pool1d", "lp_pool2d", "pad",
}  # fmt: skip
_REDUCE = {
    "mean": "reduce_mean", "var": "reduce_mean", "std": "reduce_mean", "var_mean": "reduce_mean",
    "std_mean": "reduce_mean", "amax": "reduce_max", "amin": "reduce_max", "max": "reduce_max",
    "min": "reduce_max", "sum": "reduce_other", "prod": "reduce_other", "norm": "reduce_other",
    "logsumexp": "reduce_other", "argmax": "reduce_max", "argmin": "reduce_max",
}  # fmt: skip
_ALONG = {"softmax", "log_softmax", "softmin", "cumsum", "cumprod", "normalize", "glu"}
_META = {"size", "dim", "getattr", "numel", "ndimension", "_assert", "is_floating_point"}

MODULE_KINDS: dict[type[nn.Module], str] = {}
for _cls in (
    nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Mish, nn.ELU, nn.SELU, nn.CELU, nn.LeakyReLU,
    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softsign,
    nn.LogSigmoid, nn.Tanhshrink, nn.Hardshrink, nn.Softshrink, nn.Threshold, nn.Identity,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
):  # fmt: skip
    MODULE_KINDS[_cls] = "elementwise"
for _cls in (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Upsample, nn.UpsamplingNearest2d,
    nn.UpsamplingBilinear2d, nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d,
    nn.ConstantPad2d, nn.ConstantPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d,
    nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d, nn.LPPool1d, nn.LPPool2d,
):  # fmt: skip
    MODULE_KINDS[_cls] = "spatial"
for _cls in (nn.Flatten, nn.Unflatten, nn.ChannelShuffle, nn.PixelShuffle, nn.PixelUnshuffle):
    MODULE_KINDS[_cls] = "move"
for _cls in (nn.Softmax, nn.LogSoftmax, nn.Softmin):
    MODULE_KINDS[_cls] = "along"


def op_kind(op: str, target: Any) -> str:
    """Kind of a ``call_function`` / ``call_method`` node (see module docstring)."""
    name = target if op == "call_method" else getattr(target, "__name__", "")
    if target is operator.getitem:
        return "move"
    if name in _META:
        return "meta"
    if name in _ELEMENTWISE:
        return "elementwise"
    if name in _MOVE:
        return "move"
    if name in _SPATIAL:
        return "spatial"
    if name in _REDUCE:
        return _REDUCE[name]
    if name in _ALONG:
        return "along"
    if name in ("layer_norm", "group_norm", "batch_norm", "rms_norm", "instance_norm"):
        return "fnorm"
    if name == "scaled_dot_product_attention":
        return "sdpa"
    return "opaque"
