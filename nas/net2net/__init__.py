"""Exact Net2Net transforms (widen / deepen) for any torch.fx-traceable model. Pure torch.

The package has two halves over a shared part, one folder each:

- ``graph/``: the one torch.fx trace every analysis uses, and calling a model uniformly;
- ``width/``: Net2WiderNet (width groups from channel tags, widening);
- ``depth/``: Net2DeeperNet (depth points, identity blocks, deepening);

and, beside them, the float64 self-check both transforms run (``verify``), the noise both can
add (``noise``), shrink-and-perturb for warm starts (``warm_start``), summaries of what a
transform changed (``summary``), growing an optimizer's state (``optim_state``) and the errors.
A module type the width analysis does not know becomes widenable with :func:`register_handler`
(see ``width/handlers.py``).
"""

from __future__ import annotations

from .depth import DepthPoint, deepen, deepen_with_mapping, depth_points
from .errors import Net2NetError, NotDeepenableError, NotWidenableError, VerificationError
from .optim_state import grow_optimizer_state
from .summary import architecture, describe_change, summarize
from .verify import preservation_error
from .warm_start import shrink_perturb
from .width import (
    ChannelHandler,
    Handler,
    OpaqueHandler,
    ProducerHandler,
    WidthAnalysis,
    WidthGroup,
    analyze_widths,
    register_handler,
    register_size_attribute,
    widen,
    widen_with_mapping,
    width_groups,
)

__all__ = [
    "ChannelHandler",
    "DepthPoint",
    "Handler",
    "Net2NetError",
    "NotDeepenableError",
    "NotWidenableError",
    "OpaqueHandler",
    "ProducerHandler",
    "VerificationError",
    "WidthAnalysis",
    "WidthGroup",
    "analyze_widths",
    "architecture",
    "deepen",
    "deepen_with_mapping",
    "depth_points",
    "describe_change",
    "grow_optimizer_state",
    "preservation_error",
    "register_handler",
    "register_size_attribute",
    "shrink_perturb",
    "summarize",
    "widen",
    "widen_with_mapping",
    "width_groups",
]
