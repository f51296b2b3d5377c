"""The part both halves share: one torch.fx trace (and blocks cut out of it), calling a model,
copying one, module-type tables."""

from .calls import call_model, call_on_meta, in_mode, untouched
from .clone import clone_module
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
    "clone_module",
    "in_mode",
    "keep_whole",
    "symbolic_trace",
    "untouched",
]
