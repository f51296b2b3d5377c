"""Net2WiderNet: width groups found by running the traced graph on channel tags, and widening.

Read in this order: ``tags`` (which unit sits where in a tensor), ``ops`` and ``handlers`` (how
each op and module type treats units), ``propagate`` (one pass over the graph), ``groups``
(coupled units that grow together), ``wider`` (the transform).
"""

from .groups import WidthAnalysis, WidthGroup, analyze_widths
from .wider import Mapping, widen, widen_with_mapping, width_groups

__all__ = [
    "Mapping",
    "WidthAnalysis",
    "WidthGroup",
    "analyze_widths",
    "widen",
    "widen_with_mapping",
    "width_groups",
]
