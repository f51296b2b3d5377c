"""One torch.fx trace for every analysis in this package.

The analyses only walk ``gm.graph`` and look modules up; they never call the GraphModule. So
its Python code is not generated (``GraphModule.recompile`` costs more than the trace itself
on large models: ~180 ms of a 200 ms trace of vit_b_16); it would be generated on a first call.
"""

from __future__ import annotations

from torch import fx, nn
from torch.fx._lazy_graph_module import _use_lazy_graph_module


def symbolic_trace(module: nn.Module) -> fx.GraphModule:
    """``torch.fx.symbolic_trace`` without generating the GraphModule's code."""
    with _use_lazy_graph_module(True):
        return fx.symbolic_trace(module)
