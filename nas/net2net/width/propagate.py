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
from .tags import MASK, SHIFT, TV, tagged, to_meta, wrap

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
    blame: torch.Tensor | None = None,
    splits: dict[str, list[torch.Tensor]] | None = None,
    free_splits: bool = False,
    classes: torch.Tensor | None = None,
) -> Propagation:
    """Run ``gm`` on tags. ``widths`` overrides producer widths; ``emit(name, width, first_atom)``
    overrides the ids a producer emits and ``param_ids`` those of tensor attributes, with their
    shape (the widened pass); ``root`` supplies the modules (default ``gm``; a widened deep copy
    of the traced model in the second pass); ``rescale`` names the reshapes to a literal number
    of units (``Propagation.rescale_at`` of the first pass), whose number grows with the input
    when ``may_rescale``; ``blame`` (atom -> group index) makes untagged tensors remember which
    widened groups' units reached them (``TV.taint``); ``splits`` (the first pass's) makes a split
    that moves a copy away from its source's piece fail, ``free_splits`` only records where each
    copy lands (see ``Propagation.split``); ``classes`` (atom -> unit class of the first pass)
    makes an elementwise op that pairs copies of different units fail."""
    rec = Propagation(
        rescale=rescale or {},
        may_rescale=may_rescale,
        sized=[] if blame is not None else None,
        joint=splits,
        free_splits=free_splits,
        classes=classes,
    )
    call_module = ModuleCalls(rec, gm if root is None else root, widths or {}, emit)
    env: dict[fx.Node, Any] = {}
    inputs = iter(_placeholders(gm, example_input))
    for node in gm.graph.nodes:
        args = fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
        try:
            if node.op == "placeholder":
                env[node] = wrap(to_meta(next(inputs)))
            elif node.op == "get_attr":
                value = _fetch(gm if root is None else root, node.target, gm)
                env[node] = _attribute(rec, node.target, value, param_ids or {})
            elif node.op == "call_module":
                env[node] = call_module(node, args, kwargs)
            elif node.op in ("call_function", "call_method"):
                kind = op_kind(node.op, node.target)
                fn = _method(node.target) if node.op == "call_method" else node.target
                env[node] = call_function(rec, node, kind, fn, args, kwargs)
            elif node.op == "output":
                rec.block(tagged(args), "its units reach the model's output")
            if blame is not None and node in env:
                _taint(env[node], tagged((args, kwargs)), blame)
        except Exception as exc:  # which units met the failing op: ``width_groups`` blames them
            if not hasattr(exc, "nas_inputs"):
                exc.nas_inputs = tagged((args, kwargs))
                exc.nas_sized = rec.sized or []
            raise
    return rec


def _taint(out: Any, inputs: list[TV], blame: torch.Tensor) -> None:
    """Untagged outputs inherit the widened groups their inputs carry (ids or taint)."""
    outs = [t for t in tagged(out) if t.ids is None]
    if not outs or not inputs:
        return
    seen: set[int] = set()
    for t in inputs:
        seen |= t.taint
        if t.ids is not None:
            ids = torch.unique(t.ids)
            widened = ids[(ids >> SHIFT) > 0] & MASK
            seen |= {g for g in blame[widened].tolist() if g >= 0}
    if seen:
        for t in outs:
            t.taint = frozenset(seen)


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


def _fetch(root: nn.Module, target: str, gm: fx.GraphModule) -> Any:
    """``root``'s attribute ``target``; the trace's own constants (``_tensor_constant0``: a
    tensor the forward built while being traced) live on the GraphModule only."""
    obj: Any = root
    try:
        for part in target.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        obj = gm
        for part in target.split("."):
            obj = getattr(obj, part)
    return obj
