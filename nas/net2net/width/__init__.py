"""Net2WiderNet: width groups found by running the traced graph on channel tags, and widening.

Read in this order: ``tags`` (which unit sits where in a tensor), ``ops`` and ``handlers`` (how
each op and module type treats units; ``nn_handlers`` for torch.nn's layers), ``propagate`` (one
pass over the graph, with its rules in ``module_rules`` and ``op_rules``), ``groups`` (coupled
units that grow together), ``remap`` (the tensors of a widened group) and ``wider`` (the
transform).
"""

from . import attention, nn_handlers  # noqa: F401  (register the handlers of torch.nn's layers)
from .groups import WidthAnalysis, WidthGroup, analyze_widths
from .handlers import ChannelHandler, Handler, OpaqueHandler, ProducerHandler, register_handler
from .remap import Mapping
from .size_attributes import register_size_attribute
from .wider import widen, widen_with_mapping, width_groups

__all__ = [
    "ChannelHandler",
    "Handler",
    "Mapping",
    "OpaqueHandler",
    "ProducerHandler",
    "WidthAnalysis",
    "WidthGroup",
    "analyze_widths",
    "register_handler",
    "register_size_attribute",
    "widen",
    "widen_with_mapping",
    "width_groups",
]
