"""Run a traced graph on channel tags: which layer reads, produces and couples which units.

Every producer (Linear, Conv, Embedding) emits one id per output unit along its channel axis.
Per-channel modules pass ids through; data-movement ops are applied to the ids themselves, so
concatenation offsets and flatten blocks come for free; elementwise ops meeting two tagged tensors
couple the units at each position (residual add, SE gating). Anything the pass does not understand
*blocks* the units it touches, with a reason, instead of guessing. Shapes come from the meta
device, so no arithmetic on real data is done.

The same pass runs on the widened graph (with ``widths`` and ``emit`` overridden): comparing what
each consumer reads in the old and new graph gives its column mapping.

This module walks the graph; the rules are in ``module_rules`` (module calls, by handler) and
``op_rules`` (function and method calls, by op kind); what they find goes into ``record``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import fx, nn

from .module_rules import Emit, ModuleCalls
from .op_rules import call_function
from .ops import op_kind
from .record import Propagation, Use
from .tags import TV, tagged, to_meta, wrap

__all__ = ["PARAM_LIMIT", "Emit", "Propagation", "Use", "propagate"]

#: floating tensor attributes of 2 .. this many elements get one atom per element
PARAM_LIMIT = 1 << 22


def propagate(
    gm: fx.GraphModule,
    example_input: Any,
    *,
    root: nn.Module | None = None,
    widths: dict[str, int] | None = None,
    emit: Emit | None = None,
    param_ids: dict[str, torch.Tensor] | None = None,
    rescale: dict[str, tuple[int, int, int]] | None = None,
    may_rescale: bool = False,
) -> Propagation:
    """Run ``gm`` on tags. ``widths`` overrides producer widths; ``emit(name, width, first_atom)``
    overrides the ids a producer emits and ``param_ids`` those of tensor attributes, with their
    shape (the widened pass); ``root`` supplies the modules (default ``gm``; a widened deep copy
    of the traced model in the second pass); ``rescale`` names the reshapes to a literal number
    of units (``Propagation.rescale_at`` of the first pass), whose number grows with the input
    when ``may_rescale``."""
    rec = Propagation(rescale=rescale or {}, may_rescale=may_rescale)
    call_module = ModuleCalls(rec, gm if root is None else root, widths or {}, emit)
    env: dict[fx.Node, Any] = {}
    inputs = iter(_placeholders(gm, example_input))
    for node in gm.graph.nodes:
        args = fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
        if node.op == "placeholder":
            env[node] = wrap(to_meta(next(inputs)))
        elif node.op == "get_attr":
            value = _fetch(gm if root is None else root, node.target)
            env[node] = _attribute(rec, node.target, value, param_ids or {})
        elif node.op == "call_module":
            env[node] = call_module(node, args, kwargs)
        elif node.op in ("call_function", "call_method"):
            kind = op_kind(node.op, node.target)
            fn = _method(node.target) if node.op == "call_method" else node.target
            env[node] = call_function(rec, node, kind, fn, args, kwargs)
        elif node.op == "output":
            rec.block(tagged(args), "its units reach the model's output")
    return rec


def _attribute(rec: Propagation, target: str, value: Any, given: dict[str, torch.Tensor]) -> Any:
    """A tensor attribute read by the graph: floating ones get one atom per element."""
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        return wrap(to_meta(value))
    if target in given:
        ids = given[target]
        return TV(torch.empty(ids.shape, dtype=value.dtype, device="meta"), ids)
    if not 1 < value.numel() <= PARAM_LIMIT:
        return wrap(to_meta(value))
    return TV(to_meta(value), rec.param_ids(target, value.shape))


def _placeholders(gm: fx.GraphModule, example_input: Any) -> list[Any]:
    names = [n.target for n in gm.graph.nodes if n.op == "placeholder"]
    if isinstance(example_input, dict):
        return [example_input.get(n) for n in names]
    if isinstance(example_input, tuple):
        return list(example_input) + [None] * (len(names) - len(example_input))
    return [example_input] + [None] * (len(names) - 1)


def _method(name: str) -> Callable:
    return lambda obj, *a, **k: getattr(obj, name)(*a, **k)


def _fetch(root: nn.Module, target: str) -> Any:
    obj: Any = root
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj
