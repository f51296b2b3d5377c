"""Exact Net2Net transforms (widen / deepen) for any torch.fx-traceable model. Pure torch."""

from __future__ import annotations

from .deepen import DepthPoint, deepen, depth_points
from .errors import Net2NetError, NotDeepenableError, NotWidenableError, VerificationError
from .optim_state import grow_optimizer_state
from .shrink_perturb import shrink_perturb
from .summary import architecture, describe_change, summarize
from .verify import preservation_error
from .widen import WidthGroup, widen, widen_with_mapping, width_groups

__all__ = [
    "DepthPoint",
    "Net2NetError",
    "NotDeepenableError",
    "NotWidenableError",
    "VerificationError",
    "WidthGroup",
    "architecture",
    "deepen",
    "depth_points",
    "describe_change",
    "grow_optimizer_state",
    "preservation_error",
    "shrink_perturb",
    "summarize",
    "widen",
    "widen_with_mapping",
    "width_groups",
]
