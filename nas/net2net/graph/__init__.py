"""The part both halves share: one torch.fx trace, calling a model, module-type tables."""

from .calls import call_model, call_on_meta, in_mode, untouched
from .layers import CONV_TRANSPOSES, CONVS, PLAIN_CONVS, WEIGHT_LAYERS
from .tracing import block_graph, keep_whole, symbolic_trace

__all__ = [
    "CONVS",
    "CONV_TRANSPOSES",
    "PLAIN_CONVS",
    "WEIGHT_LAYERS",
    "block_graph",
    "call_model",
    "call_on_meta",
    "in_mode",
    "keep_whole",
    "symbolic_trace",
    "untouched",
]
