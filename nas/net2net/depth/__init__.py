"""Net2DeeperNet: where an identity block fits exactly, and inserting it.

Read in this order: ``types`` (depth points and shape records), ``identity_blocks`` (conv/linear
identity blocks), ``residual_blocks`` (when a zeroed block copy is the identity), ``points``
(the analysis), ``deeper`` (the transform).
"""

from .deeper import deepen, deepen_with_mapping, depth_points
from .types import DepthPoint, PointAnalysis

__all__ = ["DepthPoint", "PointAnalysis", "deepen", "deepen_with_mapping", "depth_points"]
