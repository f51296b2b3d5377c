"""One torch.fx trace for every analysis in this package.

The analyses only walk ``gm.graph`` and look modules up; they never call the GraphModule. So
its Python code is not generated (``GraphModule.recompile`` costs more than the trace itself
on large models: ~180 ms of a 200 ms trace of vit_b_16); it would be generated on a first call.

torch.fx keeps ``torch.nn`` modules as single ``call_module`` nodes and traces into every other
module's ``forward``. A module type with a registered width handler
(:func:`nas.net2net.register_handler`) is kept whole too, so its handler sees its calls.
"""

from __future__ import annotations

import inspect

from torch import fx, nn
from torch.fx._lazy_graph_module import _make_graph_module, _use_lazy_graph_module

__all__ = ["block_graph", "keep_whole", "symbolic_trace"]

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
    tracer = _Tracer()
    graph = tracer.trace(module)  # sets tracer.root
    return _lazy_graph_module(tracer.root, graph, type(module).__name__)


def _lazy_graph_module(root: nn.Module, graph: fx.Graph, name: str) -> fx.GraphModule:
    """A GraphModule whose code is generated on its first call only (see the module docstring)."""
    with _use_lazy_graph_module(True):
        return _make_graph_module(root, graph, name)


def block_graph(whole: fx.GraphModule, path: str, block: nn.Module) -> fx.GraphModule | None:
    """The graph of ``block``, the module at ``path`` of the model traced as ``whole``, cut out
    of that trace (the nodes made inside its call: ``nn_module_stack``): what tracing ``block``
    alone gives, at a fraction of the cost. None when its nodes are not one call with one
    tensor in and one out (a block called twice, or with more inputs: trace it alone)."""
    body = []
    for n in whole.graph.nodes:
        stack = n.meta.get("nn_module_stack", {})
        if f"{path}@1" in stack:
            return None
        if path in stack:
            body.append(n)
    inside = set(body)
    inputs = {a for n in body for a in n.all_input_nodes if a not in inside}
    outputs = [n for n in body if any(u not in inside for u in n.users)]
    if len(inputs) != 1 or len(outputs) != 1:
        return None
    graph, prefix = fx.Graph(), f"{path}."
    params = list(inspect.signature(type(block).forward).parameters)[1:2] or ["x"]
    env = {inputs.pop(): graph.placeholder(params[0])}
    for n in body:
        target = n.target
        if n.op in ("call_module", "get_attr"):
            if not target.startswith(prefix):
                return None
            target = target[len(prefix) :]
        args, kwargs = fx.map_arg((n.args, n.kwargs), env.__getitem__)
        env[n] = graph.create_node(n.op, target, args, kwargs, type_expr=n.type)  # names as
        env[n].meta = dict(n.meta)  # a trace of the block alone gives them
    graph.output(env[outputs[0]])
    return _lazy_graph_module(block, graph, type(block).__name__)
