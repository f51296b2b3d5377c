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

from ..errors import NotWidenableError
from .record import Propagation
from .tags import (
    MASK,
    TV,
    apply_ids,
    atoms,
    compact,
    metas,
    rep_along,
    substitute,
    tagged,
    to_meta,
    unit_axes,
    wrap,
)

__all__ = ["call_function"]

_CAT = {"cat", "concat", "concatenate", "stack", "hstack", "vstack"}
#: functional norms: their argument names, up to the per-unit tensors
_NORM_ARGS = {
    "layer_norm": ("input", "normalized_shape", "weight", "bias"),
    "rms_norm": ("input", "normalized_shape", "weight"),
    "group_norm": ("input", "num_groups", "weight", "bias"),
    "batch_norm": ("input", "running_mean", "running_var", "weight", "bias"),
    "instance_norm": ("input", "running_mean", "running_var", "weight", "bias"),
}
_PER_UNIT = ("weight", "bias", "running_mean", "running_var")
_RESHAPE = {"reshape", "view"}
#: moves that pad to the real sizes: wrong on compact (size-1) ids
_PADS = {"_patch_merging_pad"}


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
    if kind == "sdpa":
        return _sdpa(rec, args, kwargs, f"'{node.name}'")
    if kind == "fnorm" and node.target.__name__ in ("layer_norm", "rms_norm"):
        args = _normalized_shape_of_input(args, kwargs)
    try:
        out = fn(*metas(args), **metas(kwargs))
    except RuntimeError:
        if node.name not in rec.rescale:
            raise
        args = _rescaled_shape(rec, node, args, *rec.rescale[node.name])
        out = fn(*metas(args), **metas(kwargs))
    out = to_meta(out)  # factories (torch.zeros(n), torch.arange) make real tensors: shapes only
    tvs = [t for t in tagged((args, kwargs)) if t.ids is not None]
    if kind == "meta" and rec.sized is not None:  # sizes of units flow on as plain ints
        rec.sized.extend(t.ids for t in tvs)
    if kind == "meta" or not tvs:
        return wrap(out)
    what = f"'{node.name}'"
    if kind == "elementwise":
        return _elementwise(rec, tvs, tagged((args, kwargs)), out, what)
    if kind == "move":
        name = name or (node.target if isinstance(node.target, str) else node.target.__name__)
        return _move(rec, node, fn, name, args, kwargs, out, what)
    dims = {d for t in tvs for d in unit_axes(t)}
    if kind == "spatial":
        if dims - {1}:
            rec.block(tvs, f"{what} pools over axes that carry units")
            return wrap(out)
        return TV(out, tvs[0].ids.reshape(tvs[0].ids.shape[:2] + (1,) * (out.ndim - 2)))
    if kind == "fnorm":
        return _functional_norm(rec, node.target.__name__, args, kwargs, out, what)
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


def _shape_entries(node: fx.Node) -> tuple[int | None, list]:
    """A reshape's target shape: (index of the tuple in args, or None if spread), entries."""
    if len(node.args) == 2 and isinstance(node.args[1], tuple | list):
        return 1, list(node.args[1])
    return None, list(node.args[1:])


def _record_fixed_sizes(rec: Propagation, node: fx.Node, x: TV, ids: torch.Tensor) -> None:
    """A reshape to a literal number of units (``x.reshape(n, 768, -1)``): widening must
    rescale that number, and the model's own attribute behind it (see ``size_attributes``)."""
    _, entries = _shape_entries(node)
    axes = unit_axes(TV(x.meta, ids))
    if ids.ndim != len(entries) or len(axes) != 1:
        return  # units over several axes (a channel shuffle's groups): no width to read off
    for d in axes:
        if isinstance(entries[d], int) and entries[d] > 1:
            rec.rescale_at[node.name] = (d, entries[d], x.meta.numel())


def _rescaled_shape(
    rec: Propagation, node: fx.Node, args: tuple, d: int, value: int, numel: int
) -> tuple:
    """The widened pass, where the literal size does not fit the wider input any more: it grows
    with the input's number of elements, if the model keeps it in a registered attribute."""
    if not rec.may_rescale:
        raise NotWidenableError(
            f"'{node.name}' reshapes to a literal {value} units (a number in the model's code, "
            "not read from a tensor; register the attribute that holds it: "
            "nas.net2net.register_size_attribute)"
        )
    new = value * args[0].meta.numel() // numel
    at, _ = _shape_entries(node)
    if at is None:
        return (*args[: d + 1], new, *args[d + 2 :])
    shape = list(args[1])
    shape[d] = new
    return (args[0], type(args[1])(shape), *args[2:])


def _normalized_shape_of_input(args: tuple, kwargs: dict) -> tuple:
    """``F.layer_norm(x, self.normalized_shape, ...)`` is traced with the shape as a constant:
    take it from the input, which is what the (resized) module passes at run time."""
    if len(args) < 2 or not isinstance(args[0], TV):
        return args
    n = len(args[1])
    return (args[0], tuple(args[0].meta.shape[-n:]), *args[2:])


def _sdpa(rec: Propagation, args: tuple, kwargs: dict, what: str) -> Any:
    """``F.scaled_dot_product_attention``: the output is a weighted sum over positions of
    ``value``, per unit of its last axis (so those units pass through); query and key units are
    contracted into the logits, so they are refused, and so is anything in the mask. The shape
    comes from the operands (some callers pass arguments a meta call would reject, such as
    ``is_causal=None``)."""
    names = ("query", "key", "value", "attn_mask")
    bound = {**dict(zip(names, args, strict=False)), **kwargs}
    q, k, v = (bound[n] for n in names[:3])
    out = torch.empty((*q.meta.shape[:-1], v.meta.shape[-1]), dtype=q.meta.dtype, device="meta")
    rec.block(
        [t for t in (q, k) if t.ids is not None],
        f"{what} (scaled_dot_product_attention) contracts the units of query and key",
    )
    mask = bound.get("attn_mask")
    if isinstance(mask, TV) and mask.ids is not None:
        rec.block([mask], f"{what} (scaled_dot_product_attention) reads units as a mask")
    if v.ids is None:
        return TV(out)
    if any(d != v.ids.ndim - 1 for d in unit_axes(v)):
        rec.block([v], f"{what} (scaled_dot_product_attention) mixes the units of value")
        return TV(out)
    return TV(out, v.ids.reshape([1] * (out.ndim - 1) + [v.ids.shape[-1]]))


def _functional_norm(
    rec: Propagation, op: str, args: tuple, kwargs: dict, out: Any, what: str
) -> Any:
    """``F.layer_norm`` / ``F.batch_norm`` / ... like their module forms: units along the
    normalized (last) axis or the channel axis; weight, bias and running statistics are per
    unit (one with the units they scale); a norm across the units asks for equal replication."""
    bound = {**dict(zip(_NORM_ARGS[op], args, strict=False)), **kwargs}
    x, per_unit = bound["input"], [bound.get(k) for k in _PER_UNIT]
    per_unit = [t for t in per_unit if isinstance(t, TV)]
    ndim = x.meta.ndim
    if op in ("layer_norm", "rms_norm"):
        axis = ndim - 1 if len(bound["normalized_shape"]) == 1 else None
    else:
        axis = 1 if ndim > 1 else 0
    tvs = [t for t in [x, *per_unit] if t.ids is not None]
    if axis is None:
        rec.block(tvs, f"{what} normalizes over several axes that carry units")
        return wrap(out)
    if any(d != axis for d in unit_axes(x)):
        rec.block(tvs, f"{what} reads units along an axis it does not treat per unit")
        return wrap(out)
    size = x.meta.shape[axis]
    rep = rep_along(x.ids, axis, size)[0] if x.ids is not None else None
    for t in per_unit:
        if t.ids is None:
            if rep is not None and t.meta.numel() > 1:
                rec.block(tvs, f"{what} scales the units by a fixed tensor")
                return wrap(out)
            continue
        if rep is not None:
            rec.unions.add(rep, t.ids.reshape(-1))
        else:
            rep = t.ids.reshape(-1)
    if rep is None:
        return wrap(out)
    if x.ids is not None and op in ("layer_norm", "rms_norm", "group_norm"):
        groups = bound["num_groups"] if op == "group_norm" else 1
        rec.tiles.append((atoms(rep), f"{what} normalizes across its units", groups))
    shape = [1] * ndim
    shape[axis] = size
    return TV(out, x.ids if x.ids is not None else rep.reshape(shape))


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
        if rec.classes is not None:
            both = (ids != 0) & (other != 0)
            a, b = rec.classes[(ids & MASK)[both]], rec.classes[(other & MASK)[both]]
            if not torch.equal(a, b):
                raise ValueError(f"{what} pairs copies of different units in the widened graph")
        rec.unions.add(ids, other)
        ids = torch.where(ids != 0, ids, other)
    return TV(out, compact(ids.contiguous()))


def _move(
    rec: Propagation,
    node: fx.Node,
    fn: Callable,
    name: str,
    args: tuple,
    kwargs: dict,
    out: Any,
    what: str,
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
            d = dim % parts[0].meta.ndim
            if name != "stack" and all(p.ids.shape[d] == 1 for p in parts):
                # every position along the joined axis now holds the same units (a class
                # token before the patches): the first part's ids stand for all of them
                return TV(out, parts[0].ids)
    every = tagged((args, kwargs))

    def rebuild(id_list: list[torch.Tensor]) -> Any:
        swap = dict(zip((id(t) for t in every), id_list, strict=True))
        return fn(*substitute(args, swap), **substitute(kwargs, swap))

    try:
        ids = apply_ids(fn, every, out, rebuild, compact_first=name not in _PADS)
    except (RuntimeError, IndexError, ValueError, TypeError) as exc:
        rec.block(tvs, f"{what} moves units in a way the analysis cannot follow ({exc})")
        return wrap(out)
    if name in _RESHAPE and isinstance(out, torch.Tensor):
        _record_fixed_sizes(rec, node, tvs[0], ids)
    if name not in _CAT:
        before = atoms(torch.cat([t.ids.reshape(-1) for t in tvs]))
        outs = ids if isinstance(ids, tuple | list) else [ids]
        split = (
            isinstance(ids, tuple | list)
            and len(tvs) == 1
            and rec.split(node.name, list(outs), before)
        )
        if not split and any(len(atoms(o)) < len(before) for o in outs):
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
        else:
            rec.copies_only.append((atoms(tv.ids), f"{what} takes a max over the units", 1))
        return wrap(out)
    ids = tv.ids.amax(dim=dims, keepdim=keep) if dims else tv.ids
    if isinstance(out, torch.Tensor):
        return TV(out, ids)
    return wrap(out)
