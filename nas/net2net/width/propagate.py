"""Run a traced graph on channel tags: which layer reads, produces and couples which units.

Every producer (Linear, Conv, Embedding) emits one id per output unit along its channel axis.
Per-channel modules pass ids through; data-movement ops are applied to the ids themselves, so
concatenation offsets and flatten blocks come for free; elementwise ops meeting two tagged tensors
couple the units at each position (residual add, SE gating). Anything the pass does not understand
*blocks* the units it touches, with a reason, instead of guessing. Shapes come from the meta
device, so no arithmetic on real data is done.

The same pass runs on the widened graph (with ``widths`` and ``emit`` overridden): comparing what
each consumer reads in the old and new graph gives its column mapping.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn
from torch.func import functional_call

from .handlers import handler_for
from .ops import MODULE_KINDS, op_kind
from .tags import MASK, TV, Unions, apply_ids, compact, rep_along

__all__ = ["Propagation", "Use", "propagate"]

_CAT = {"cat", "concat", "concatenate", "stack", "hstack", "vstack"}


@dataclass
class Use:
    """One call of a module that reads (consumer) or passes through (channel) tagged units."""

    module: str
    axis: int
    ids: torch.Tensor  # representative id per position along ``axis``


@dataclass
class Propagation:
    """What one pass found (see module docstring)."""

    producers: dict[str, int] = field(default_factory=dict)  # module -> first atom (atoms 1-based)
    consumers: list[Use] = field(default_factory=list)
    channels: list[Use] = field(default_factory=list)
    unions: Unions = field(default_factory=Unions)
    blocked: dict[int, str] = field(default_factory=dict)  # atom -> reason
    tiles: list[tuple[torch.Tensor, str, int]] = field(
        default_factory=list
    )  # atoms, module, groups
    grouped: list[tuple[torch.Tensor, str, int]] = field(
        default_factory=list
    )  # atoms, conv, groups
    order: list[str] = field(default_factory=list)  # modules in call order
    n_atoms: int = 0


def _atoms(ids: torch.Tensor | None) -> torch.Tensor:
    if ids is None:
        return torch.zeros(0, dtype=torch.long)
    a = torch.unique(ids) & MASK
    return torch.unique(a[a != 0])


def _unit_axes(tv: TV) -> list[int]:
    """Axes along which the (compact) ids vary."""
    if tv.ids is None:
        return []
    return [d for d in range(tv.ids.ndim) if tv.ids.shape[d] > 1]


def _meta(x: Any) -> Any:
    if isinstance(x, TV):
        return x.meta
    if isinstance(x, tuple | list):
        return type(x)(_meta(v) for v in x)
    if isinstance(x, dict):
        return {k: _meta(v) for k, v in x.items()}
    return x


def _tvs(x: Any) -> list[TV]:
    if isinstance(x, TV):
        return [x]
    if isinstance(x, tuple | list):
        return [t for v in x for t in _tvs(v)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _tvs(v)]
    return []


def _wrap(out: Any, ids: Any = None) -> Any:
    """Meta result -> TV values (untagged unless ids are given for a single tensor)."""
    if isinstance(out, torch.Tensor):
        return TV(out, ids)
    if type(out) in (tuple, list):
        return type(out)(_wrap(v) for v in out)
    if isinstance(out, tuple):  # torch.return_types (torch.max with dim) and namedtuples
        return tuple(_wrap(v) for v in out)
    return out


def _to_meta(t: Any) -> Any:
    if isinstance(t, torch.Tensor):
        return torch.empty_like(t, device="meta")
    if isinstance(t, tuple | list):
        return type(t)(_to_meta(v) for v in t)
    if isinstance(t, dict):
        return {k: _to_meta(v) for k, v in t.items()}
    return t


def _placeholders(gm: fx.GraphModule, example_input: Any) -> list[Any]:
    names = [n.target for n in gm.graph.nodes if n.op == "placeholder"]
    if isinstance(example_input, dict):
        return [example_input.get(n) for n in names]
    if isinstance(example_input, tuple):
        return list(example_input) + [None] * (len(names) - len(example_input))
    return [example_input] + [None] * (len(names) - 1)


class _Runner:
    def __init__(
        self,
        gm: fx.GraphModule,
        root: nn.Module,
        widths: dict[str, int],
        emit: Callable[[str, int, int], torch.Tensor] | None,
    ) -> None:
        self.gm, self.root, self.widths, self.emit = gm, root, widths, emit
        self.r = Propagation()
        self.modules = dict(root.named_modules())

    # -- bookkeeping --------------------------------------------------------------------------
    def block(self, tvs: list[TV], reason: str) -> None:
        for tv in tvs:
            for a in _atoms(tv.ids).tolist():
                self.r.blocked.setdefault(a, reason)

    def producer_ids(self, name: str, width: int) -> torch.Tensor:
        if name not in self.r.producers:
            self.r.producers[name] = self.r.n_atoms + 1
            self.r.n_atoms += width
        if self.emit is not None:
            return self.emit(name, width, self.r.producers[name])
        return torch.arange(width) + self.r.producers[name]

    def single_axis(self, tv: TV, axis: int | None, what: str) -> bool:
        """Units must vary along ``axis`` only; otherwise block them and return False."""
        axes = _unit_axes(tv)
        if axis is None or any(d != axis % tv.meta.ndim for d in axes):
            self.block([tv], f"{what} reads units along an axis it does not treat per unit")
            return False
        return True

    # -- node kinds ---------------------------------------------------------------------------
    def call_module(self, node: fx.Node, args: tuple, kwargs: dict) -> Any:
        name = str(node.target)
        m = self.modules[name]
        self.r.order.append(name)
        h = handler_for(m)
        x = args[0] if args else None
        what = f"'{name}' ({type(m).__name__})"
        if h is not None and h.kind in ("producer", "channel") and isinstance(x, TV):
            if len(_tvs((args[1:], kwargs))):
                self.block(_tvs((args, kwargs)), f"{what} is called with several tensors")
                return _wrap(self.fallback_meta(m, args, kwargs))
            return self.handled(name, m, h, x, what)
        kind = MODULE_KINDS.get(type(m))
        if kind == "along":  # nn.Softmax and friends: the dim is an attribute
            kwargs = {**kwargs, "dim": m.dim}
        if kind is not None and not any(True for _ in m.parameters()):
            fn = (lambda *a, dim=None, **k: m(*a, **k)) if kind == "along" else m
            if kind == "elementwise" and isinstance(x, TV) and len(args) == 1 and not kwargs:
                fn = torch.empty_like  # same shape and dtype; meta ReLU6 alone costs ~3 ms
            return self.function(node, kind, fn, args, kwargs, type(m).__name__.lower())
        if h is not None and h.kind == "opaque":
            reason = f"{what}: {h.reason}"
        else:
            reason = f"{what} is not understood by the width analysis (register a handler)"
        self.block(_tvs((args, kwargs)), reason)
        return _wrap(self.fallback_meta(m, args, kwargs))

    def fallback_meta(self, m: nn.Module, args: tuple, kwargs: dict) -> Any:
        state = {k: _to_meta(v) for k, v in (*m.named_parameters(), *m.named_buffers())}
        return functional_call(m, state, _meta(args), _meta(kwargs))

    def read(self, uses: list[Use], name: str, axis: int, x: TV) -> Use:
        """Record a call reading units; one weight column per position couples the units every
        call of the same module reads at that position."""
        use = Use(name, axis, rep_along(x.ids, axis, x.meta.shape[axis])[0])
        for other in uses:
            if other.module == name:
                if len(other.ids) == len(use.ids):
                    self.r.unions.add(other.ids & MASK, use.ids & MASK)
                else:
                    self.block(
                        [x, TV(x.meta, other.ids)],
                        f"'{name}' is called on inputs of different widths",
                    )
                break
        uses.append(use)
        return use

    def handled(self, name: str, m: nn.Module, h: Any, x: TV, what: str) -> TV:
        in_axis = h.in_axis(m, x.meta)
        tagged = x.ids is not None and bool((x.ids != 0).any())
        if h.kind == "producer":
            if tagged and self.single_axis(x, in_axis, what):
                use = self.read(self.r.consumers, name, in_axis, x)
                if h.groups(m) > 1:
                    self.r.grouped.append((use.ids, name, h.groups(m)))
            width = self.widths.get(name, h.width(m))
            out = h.meta(m, x.meta, width)
            axis = h.out_axis(m, out)
            shape = [1] * out.ndim
            shape[axis] = width
            ids = self.producer_ids(name, width).reshape(shape)
            if width == 1:  # nothing marks a size-1 axis as the unit axis: refuse, not guess
                self.block([TV(out, ids)], f"{what} has a single unit")
            if h.groups(m) > 1:
                self.r.grouped.append((ids.reshape(-1), name, h.groups(m)))
            return TV(out, ids)
        out = h.meta(m, x.meta, x.meta.shape[in_axis] if in_axis is not None else 0)
        if not tagged:
            return TV(out, None)
        if in_axis is None:
            if h.tile or h.params(m):
                self.block([x], f"{what} normalizes over several axes that carry units")
            return TV(out, x.ids)
        if self.single_axis(x, in_axis, what):
            self.read(self.r.channels, name, in_axis, x)
            if h.tile:
                self.r.tiles.append((_atoms(x.ids), f"{what} {h.reason}", h.groups(m)))
        return TV(out, x.ids)

    def function(
        self, node: fx.Node, kind: str, fn: Callable, args: tuple, kwargs: dict, name: str = ""
    ) -> Any:
        if node.target is operator.getitem and type(args[0]) in (tuple, list):
            return args[0][args[1]]
        out = fn(*_meta(args), **_meta(kwargs))
        tvs = [t for t in _tvs((args, kwargs)) if t.ids is not None]
        if kind == "meta" or not tvs:
            return _wrap(out)
        what = f"'{node.name}'"
        if kind == "elementwise":
            return self.elementwise(tvs, _tvs((args, kwargs)), out, what)
        if kind == "move":
            name = name or (node.target if isinstance(node.target, str) else node.target.__name__)
            return self.move(fn, name, args, kwargs, out, what)
        dims = {d for t in tvs for d in _unit_axes(t)}
        if kind == "spatial":
            if dims - {1}:
                self.block(tvs, f"{what} pools over axes that carry units")
                return _wrap(out)
            return TV(out, tvs[0].ids.reshape(tvs[0].ids.shape[:2] + (1,) * (out.ndim - 2)))
        if kind.startswith("reduce"):
            return self.reduce(kind, tvs[0], args, kwargs, out, what)
        if kind == "along":
            dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
            if dim is None or (dim % tvs[0].meta.ndim) in dims:
                self.block(tvs, f"{what} normalizes along the units")
                return _wrap(out)
            return _wrap(out, tvs[0].ids)
        self.block(
            tvs,
            f"{what} ({getattr(node.target, '__name__', node.target)}) mixes or uses units in a way the analysis does not follow",
        )
        return _wrap(out)

    def elementwise(self, tvs: list[TV], every: list[TV], out: Any, what: str) -> Any:
        if not isinstance(out, torch.Tensor):
            return _wrap(out)
        unit_dims = {d - t.ids.ndim for t in tvs for d in _unit_axes(t)}  # counted from the right
        for t in every:
            if t.ids is None and any(-d <= t.meta.ndim and t.meta.shape[d] > 1 for d in unit_dims):
                self.block(tvs, f"{what} combines units with a fixed tensor that varies per unit")
                return _wrap(out)
        shape = torch.broadcast_shapes(*(t.ids.shape for t in tvs))
        ids = tvs[0].ids.expand(shape)
        for t in tvs[1:]:
            other = t.ids.expand(shape)
            self.r.unions.add(ids, other)
            ids = torch.where(ids != 0, ids, other)
        return TV(out, compact(ids.contiguous()))

    def move(self, fn: Callable, name: str, args: tuple, kwargs: dict, out: Any, what: str) -> Any:
        tvs = [t for t in _tvs((args, kwargs)) if t.ids is not None]
        if name in _CAT:
            dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
            parts = _tvs(args[0])
            axes = {d for t in tvs for d in _unit_axes(t)}
            if name == "stack" or (dim % parts[0].meta.ndim) not in axes:
                if any(p.ids is None for p in parts):
                    self.block(tvs, f"{what} joins units with a fixed tensor along another axis")
                    return _wrap(out)
                for p in parts[1:]:
                    self.r.unions.add(*torch.broadcast_tensors(parts[0].ids, p.ids))
        all_tvs = _tvs((args, kwargs))

        def rebuild(id_list: list[torch.Tensor]) -> Any:
            it = iter(id_list)
            swap = {id(t): next(it) for t in all_tvs}
            return fn(*_sub(args, swap), **_sub(kwargs, swap))

        try:
            ids = apply_ids(fn, all_tvs, out, rebuild)
        except (RuntimeError, IndexError, ValueError, TypeError) as exc:
            self.block(tvs, f"{what} moves units in a way the analysis cannot follow ({exc})")
            return _wrap(out)
        if name not in _CAT:
            before = _atoms(torch.cat([t.ids.reshape(-1) for t in tvs]))
            outs = ids if isinstance(ids, tuple | list) else [ids]
            if any(len(_atoms(o)) < len(before) for o in outs):
                # refused, but the ids still flow: later positions (a concat, a shuffle) must
                # stay identifiable, or the untagged ones could not be told apart
                self.block(tvs, f"{what} slices or splits the units")
        if isinstance(out, torch.Tensor):
            return TV(out, ids)
        return type(out)(TV(o, i) for o, i in zip(out, ids, strict=True))

    def reduce(self, kind: str, tv: TV, args: tuple, kwargs: dict, out: Any, what: str) -> Any:
        ndim = tv.meta.ndim
        dim = kwargs.get(
            "dim", args[1] if len(args) > 1 and not isinstance(args[1], bool) else None
        )
        dims = (
            list(range(ndim))
            if dim is None
            else [d % ndim for d in ([dim] if isinstance(dim, int) else dim)]
        )
        keep = bool(kwargs.get("keepdim", args[2] if len(args) > 2 else False))
        over_units = set(dims) & set(_unit_axes(tv))
        if over_units:
            if kind == "reduce_other":
                self.block([tv], f"{what} sums over the units")
            elif kind == "reduce_mean":
                self.r.tiles.append((_atoms(tv.ids), f"{what} averages over the units", 1))
            return _wrap(out)
        ids = tv.ids.amax(dim=dims, keepdim=keep) if dims else tv.ids
        if isinstance(out, torch.Tensor):
            return TV(out, ids)
        return _wrap(out)

    # -- driver -------------------------------------------------------------------------------
    def run(self, example_input: Any) -> Propagation:
        env: dict[fx.Node, Any] = {}
        inputs = iter(_placeholders(self.gm, example_input))
        for node in self.gm.graph.nodes:
            args = fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
            if node.op == "placeholder":
                env[node] = _wrap(_to_meta(next(inputs)))
            elif node.op == "get_attr":
                env[node] = _wrap(_to_meta(_fetch(self.root, node.target)))
            elif node.op == "call_module":
                env[node] = self.call_module(node, args, kwargs)
            elif node.op in ("call_function", "call_method"):
                kind = op_kind(node.op, node.target)
                fn = _method(node.target) if node.op == "call_method" else node.target
                env[node] = self.function(node, kind, fn, args, kwargs)
            elif node.op == "output":
                self.block(_tvs(args), "its units reach the model's output")
        return self.r


def _sub(x: Any, swap: dict[int, torch.Tensor]) -> Any:
    if isinstance(x, TV):
        return swap[id(x)]
    if isinstance(x, tuple | list):
        return type(x)(_sub(v, swap) for v in x)
    if isinstance(x, dict):
        return {k: _sub(v, swap) for k, v in x.items()}
    return x


def _method(name: str) -> Callable:
    return lambda obj, *a, **k: getattr(obj, name)(*a, **k)


def _fetch(gm: fx.GraphModule, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def propagate(
    gm: fx.GraphModule,
    example_input: Any,
    *,
    root: nn.Module | None = None,
    widths: dict[str, int] | None = None,
    emit: Callable[[str, int, int], torch.Tensor] | None = None,
) -> Propagation:
    """Run ``gm`` on tags. ``widths`` overrides producer widths; ``emit(name, width, first_atom)``
    overrides the ids a producer emits (the widened pass); ``root`` supplies the modules (default
    ``gm``; a widened deep copy of the traced model in the second pass)."""
    return _Runner(gm, gm if root is None else root, widths or {}, emit).run(example_input)


def lcm(values: list[int]) -> int:
    out = 1
    for v in values:
        out = out * v // math.gcd(out, v)
    return out
