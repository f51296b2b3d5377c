"""One torch.fx trace for every analysis in this package.

The analyses only walk ``gm.graph`` and look modules up; they never call the GraphModule. So
its Python code is not generated (``GraphModule.recompile`` costs more than the trace itself
on large models: ~180 ms of a 200 ms trace of vit_b_16); it would be generated on a first call.

torch.fx keeps ``torch.nn`` modules as single ``call_module`` nodes and traces into every other
module's ``forward``. A module type with a registered width handler
(:func:`nas.net2net.register_handler`) is kept whole too, so its handler sees its calls.
"""

from __future__ import annotations

from torch import fx, nn
from torch.fx._lazy_graph_module import _make_graph_module, _use_lazy_graph_module

__all__ = ["keep_whole", "symbolic_trace"]

_WHOLE: set[type[nn.Module] | str] = set()


def keep_whole(*types: type[nn.Module] | str) -> None:
    """Trace calls of modules of exactly these types (or ``"package.module.Class"`` names) as
    one node, not into their forward."""
    _WHOLE.update(types)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        t = type(m)
        return (
            t in _WHOLE
            or f"{t.__module__}.{t.__qualname__}" in _WHOLE
            or super().is_leaf_module(m, module_qualified_name)
        )


def symbolic_trace(module: nn.Module) -> fx.GraphModule:
    """``torch.fx.symbolic_trace`` without generating the GraphModule's code."""
    with _use_lazy_graph_module(True):
        tracer = _Tracer()
        graph = tracer.trace(module)
        return _make_graph_module(tracer.root, graph, type(module).__name__)
