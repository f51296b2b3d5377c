"""How a function or method call (one op of the traced graph) treats channel tags, by its kind.

The kinds are listed in ``ops``: elementwise ops couple the units they combine, data movement is
applied to the ids themselves, pooling keeps the channel ids, reductions and ``along`` ops refuse
units they mix; any other op refuses the units it touches.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
from torch import fx

from .record import Propagation
from .tags import TV, apply_ids, atoms, compact, metas, substitute, tagged, unit_axes, wrap

__all__ = ["call_function"]

_CAT = {"cat", "concat", "concatenate", "stack", "hstack", "vstack"}


def call_function(
    rec: Propagation,
    node: fx.Node,
    kind: str,
    fn: Callable,
    args: tuple,
    kwargs: dict,
    name: str = "",
) -> Any:
    """Run ``fn`` on the meta tensors of ``args`` and give its result the right tags.

    ``name`` names a module standing for the op (a parameterless nn.ReLU, nn.Flatten, ...).
    """
    if node.target is operator.getitem and type(args[0]) in (tuple, list):
        return args[0][args[1]]
    out = fn(*metas(args), **metas(kwargs))
    tvs = [t for t in tagged((args, kwargs)) if t.ids is not None]
    if kind == "meta" or not tvs:
        return wrap(out)
    what = f"'{node.name}'"
    if kind == "elementwise":
        return _elementwise(rec, tvs, tagged((args, kwargs)), out, what)
    if kind == "move":
        name = name or (node.target if isinstance(node.target, str) else node.target.__name__)
        return _move(rec, fn, name, args, kwargs, out, what)
    dims = {d for t in tvs for d in unit_axes(t)}
    if kind == "spatial":
        if dims - {1}:
            rec.block(tvs, f"{what} pools over axes that carry units")
            return wrap(out)
        return TV(out, tvs[0].ids.reshape(tvs[0].ids.shape[:2] + (1,) * (out.ndim - 2)))
    if kind.startswith("reduce"):
        return _reduce(rec, kind, tvs[0], args, kwargs, out, what)
    if kind == "along":
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if dim is None or (dim % tvs[0].meta.ndim) in dims:
            rec.block(tvs, f"{what} normalizes along the units")
            return wrap(out)
        return wrap(out, tvs[0].ids)
    op = getattr(node.target, "__name__", node.target)
    rec.block(tvs, f"{what} ({op}) mixes or uses units in a way the analysis does not follow")
    return wrap(out)


def _elementwise(rec: Propagation, tvs: list[TV], every: list[TV], out: Any, what: str) -> Any:
    """Tagged operands meeting at a position are one unit; a fixed operand varying along the
    units (a per-channel constant) would need widening too, so it refuses them."""
    if not isinstance(out, torch.Tensor):
        return wrap(out)
    unit_dims = {d - t.ids.ndim for t in tvs for d in unit_axes(t)}  # counted from the right
    for t in every:
        if t.ids is None and any(-d <= t.meta.ndim and t.meta.shape[d] > 1 for d in unit_dims):
            rec.block(tvs, f"{what} combines units with a fixed tensor that varies per unit")
            return wrap(out)
    shape = torch.broadcast_shapes(*(t.ids.shape for t in tvs))
    ids = tvs[0].ids.expand(shape)
    for t in tvs[1:]:
        other = t.ids.expand(shape)
        rec.unions.add(ids, other)
        ids = torch.where(ids != 0, ids, other)
    return TV(out, compact(ids.contiguous()))


def _move(
    rec: Propagation, fn: Callable, name: str, args: tuple, kwargs: dict, out: Any, what: str
) -> Any:
    """Apply the op to the ids; joining tensors along another axis couples their units."""
    tvs = [t for t in tagged((args, kwargs)) if t.ids is not None]
    if name in _CAT:
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        parts = tagged(args[0])
        axes = {d for t in tvs for d in unit_axes(t)}
        if name == "stack" or (dim % parts[0].meta.ndim) not in axes:
            if any(p.ids is None for p in parts):
                rec.block(tvs, f"{what} joins units with a fixed tensor along another axis")
                return wrap(out)
            for p in parts[1:]:
                rec.unions.add(*torch.broadcast_tensors(parts[0].ids, p.ids))
    every = tagged((args, kwargs))

    def rebuild(id_list: list[torch.Tensor]) -> Any:
        swap = dict(zip((id(t) for t in every), id_list, strict=True))
        return fn(*substitute(args, swap), **substitute(kwargs, swap))

    try:
        ids = apply_ids(fn, every, out, rebuild)
    except (RuntimeError, IndexError, ValueError, TypeError) as exc:
        rec.block(tvs, f"{what} moves units in a way the analysis cannot follow ({exc})")
        return wrap(out)
    if name not in _CAT:
        before = atoms(torch.cat([t.ids.reshape(-1) for t in tvs]))
        outs = ids if isinstance(ids, tuple | list) else [ids]
        if any(len(atoms(o)) < len(before) for o in outs):
            # refused, but the ids still flow: later positions (a concat, a shuffle) must
            # stay identifiable, or the untagged ones could not be told apart
            rec.block(tvs, f"{what} slices or splits the units")
    if isinstance(out, torch.Tensor):
        return TV(out, ids)
    return type(out)(TV(o, i) for o, i in zip(out, ids, strict=True))


def _reduce(
    rec: Propagation, kind: str, tv: TV, args: tuple, kwargs: dict, out: Any, what: str
) -> Any:
    """Over the units a max is unchanged by replication, a mean needs every unit replicated
    equally (a tile), anything else refuses; over other axes the ids are reduced too."""
    ndim = tv.meta.ndim
    dim = kwargs.get("dim", args[1] if len(args) > 1 and not isinstance(args[1], bool) else None)
    dims = (
        list(range(ndim))
        if dim is None
        else [d % ndim for d in ([dim] if isinstance(dim, int) else dim)]
    )
    keep = bool(kwargs.get("keepdim", args[2] if len(args) > 2 else False))
    if set(dims) & set(unit_axes(tv)):
        if kind == "reduce_other":
            rec.block([tv], f"{what} sums over the units")
        elif kind == "reduce_mean":
            rec.tiles.append((atoms(tv.ids), f"{what} averages over the units", 1))
        return wrap(out)
    ids = tv.ids.amax(dim=dims, keepdim=keep) if dims else tv.ids
    if isinstance(out, torch.Tensor):
        return TV(out, ids)
    return wrap(out)
