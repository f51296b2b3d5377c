"""Width groups: the sets of coupled units that must grow together, found on the fx graph.

A group is a connected set of producers (Linear / Conv / Embedding) whose units are made one by
the graph (residual adds, gating, ...), together with the modules that read those units
(consumers: their input columns) and the per-channel modules that carry them (BN, LayerNorm,
depthwise conv, PReLU). A group is widenable unless some op touching its units was not
understood, its units reach the model's output, or its producers are coupled unevenly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from ..errors import NotWidenableError
from ..graph.cache import cached_analysis
from ..graph.calls import untouched
from ..graph.tracing import symbolic_trace
from .handlers import handler_for
from .propagate import Propagation, propagate
from .size_attributes import size_attributes
from .tags import MASK

__all__ = ["WidthAnalysis", "WidthGroup", "analyze_widths"]


@dataclass(frozen=True)
class WidthGroup:
    """Coupled units that widen together.

    Attributes:
        name: module name of its first producer (any producer's name also selects the group).
        width: current number of units.
        producers: modules whose output units (rows) form the group.
        consumers: modules that read the units (their input columns are remapped).
        members: per-channel modules on the units (BatchNorm, LayerNorm, depthwise conv, ...).
        tile: every unit must be replicated equally (a norm across the units): width = k x old.
        blocks: grouped convs split the units into this many blocks; each block grows equally.
        attributes: plain-int attributes holding the width (``owner.name``), set on widening
            (see ``size_attributes``).
        params: tensor attributes that carry the units (position embeddings, class tokens,
            layer scales, functional norms' weights), as (name, dim, offset): the units are
            elements ``offset .. offset + width`` along ``dim``.
        reason: why the group cannot be widened ('' when it can).
        copies_only: why its new units must be copies of old ones ('' when fresh units, as
            ``widen(init="zero_out")`` makes them, keep the function: no norm, mean or max
            across the units, no split into pieces).
        parts: a *joint* group: groups whose units a split (ShuffleNet's ``x.chunk(2)``) hands
            to different pieces, so that none can grow alone; they grow together, every part
            k times (width = all their units), each unit's copies kept in its own piece.
    """

    name: str
    width: int
    producers: tuple[str, ...]
    consumers: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    tile: bool = False
    blocks: int = 1
    params: tuple[tuple[str, int, int], ...] = ()
    attributes: tuple[str, ...] = ()
    reason: str = ""
    tile_reason: str = field(default="", repr=False)
    copies_only: str = field(default="", repr=False)
    parts: tuple[WidthGroup, ...] = field(default=(), repr=False)


@dataclass
class WidthAnalysis:
    gm: fx.GraphModule
    prop: Propagation
    groups: list[WidthGroup]  # widenable, in call order
    refused: list[WidthGroup]  # not widenable, with their reason
    atom_group: torch.Tensor = field(repr=False, default=None)  # atom -> index in groups, or -1
    labels: torch.Tensor = field(repr=False, default=None)  # atom -> its unit class

    def find(self, name: str) -> WidthGroup:
        for g in self.groups:
            if name == g.name or name in g.producers:
                return g
        for g in self.refused:
            if name == g.name or name in g.producers:
                raise NotWidenableError(f"cannot widen '{name}': {g.reason}")
        listed = ", ".join(g.name for g in self.groups) or "none"
        raise NotWidenableError(
            f"cannot widen '{name}': no width group has a producer of that name "
            f"(widenable groups: {listed})"
        )


def trace(model: nn.Module) -> fx.GraphModule:
    try:
        return symbolic_trace(model)
    except Exception as exc:  # fx raises many types (TraceError, TypeError, ...)
        raise NotWidenableError(
            f"cannot analyse widths of {type(model).__name__}: torch.fx cannot trace it ({exc})"
        ) from exc


def _root(parent: Any, x: Any) -> Any:
    """Union-find: the root of ``x`` in ``parent`` (a dict or list), halving paths on the way."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _components(prop: Propagation, labels: torch.Tensor) -> list[list[str]]:
    """Producers grouped by shared unit classes (union-find over producers), in call order."""
    parent: dict[str, str] = {}

    def find(p: str) -> str:
        return _root(parent, p)

    owner: dict[int, str] = {}
    for name, (first, width) in prop_spans(prop).items():
        parent.setdefault(name, name)
        for c in torch.unique(labels[first : first + width]).tolist():
            if c in owner:
                parent[find(name)] = find(owner[c])
            else:
                owner[c] = name
    comps: dict[str, list[str]] = {}
    for name in parent:
        comps.setdefault(find(name), []).append(name)
    return list(comps.values())


def prop_spans(prop: Propagation) -> dict[str, tuple[int, int]]:
    """Producer -> (first atom, width) in the order producers were first called."""
    return {name: (first, prop.widths[name]) for name, first in prop.producers.items()}


def _uses_by_group(uses: list, labels: torch.Tensor, group_of: torch.Tensor) -> dict[int, list]:
    out: dict[int, list] = {}
    for u in uses:
        for gid in torch.unique(group_of[labels[u.ids]]).tolist():
            if gid >= 0 and u.module not in out.setdefault(gid, []):
                out[gid].append(u.module)
    return out


def _flags(entries: list, labels: torch.Tensor, group_of: torch.Tensor) -> dict[int, list]:
    out: dict[int, list] = {}
    for atoms, what, n in entries:
        for gid in torch.unique(group_of[labels[atoms]]).tolist():
            if gid >= 0:
                out.setdefault(gid, []).append((what, n))
    return out


@cached_analysis
def analyze_widths(model: nn.Module, example_input: Any) -> WidthAnalysis:
    """Trace ``model``, propagate channel tags and build its width groups (the model is left
    exactly as it was: see ``untouched``)."""
    with untouched(model):
        return _analyze_widths(model, example_input)


def _analyze_widths(model: nn.Module, example_input: Any) -> WidthAnalysis:
    gm = trace(model)
    try:
        prop = propagate(gm, example_input)
    except NotWidenableError:
        raise
    except Exception as exc:
        raise NotWidenableError(
            f"cannot analyse widths of {type(model).__name__}: {type(exc).__name__}: {exc}"
        ) from exc
    labels = prop.unions.labels(prop.n_atoms + 1)
    labels[0] = 0
    spans = prop_spans(prop)
    blocked: dict[int, str] = {}
    for atom, reason in prop.blocked.items():
        blocked.setdefault(int(labels[atom]), reason)
    group_of = torch.full((prop.n_atoms + 1,), -1, dtype=torch.long)
    comps = _components(prop, labels)
    for gid, names in enumerate(comps):
        for n in names:
            first, width = spans[n]
            group_of[labels[first : first + width]] = gid
    consumers = _uses_by_group(prop.consumers, labels, group_of)
    members = _uses_by_group(prop.channels, labels, group_of)
    tiles = _flags(prop.tiles, labels, group_of)
    maxes = _flags(prop.copies_only, labels, group_of)
    grouped = _flags(prop.grouped, labels, group_of)
    grouped_order = _grouped_order(prop, labels, group_of, spans, comps)
    params, param_reasons = _param_members(prop, labels, group_of, spans, comps)
    held = size_attributes(model)
    by_gid: list[WidthGroup] = []
    for gid, names in enumerate(comps):
        first, width = spans[names[0]]
        classes = labels[first : first + width]
        reason = ""
        for n in names:
            f, w = spans[n]
            c = labels[f : f + w]
            if w != width or not torch.equal(c, classes):
                reason = (
                    f"the units of '{names[0]}' and '{n}' are coupled unevenly or in another "
                    "order (e.g. a sum over a concatenation, or over flipped channels)"
                )
                break
        if not reason:
            hit = [blocked[c] for c in torch.unique(classes).tolist() if c in blocked]
            reason = hit[0] if hit else ""
        attributes = tuple(a for n in names for a in held.get(n, []))
        if not reason:
            reason = (
                _unsupported(model, names)
                or grouped_order.get(gid, "")
                or param_reasons.get(gid, "")
            )
        g = WidthGroup(
            name=names[0],
            width=width,
            producers=tuple(names),
            consumers=tuple(consumers.get(gid, [])),
            members=tuple(members.get(gid, [])),
            tile=gid in tiles,
            blocks=math.lcm(*(n for _, n in tiles.get(gid, []) + grouped.get(gid, []))),
            params=tuple(params.get(gid, [])),
            attributes=attributes,
            reason=reason,
            tile_reason="; ".join(w for w, _ in tiles.get(gid, [])),
            copies_only="; ".join(w for w, _ in tiles.get(gid, []) + maxes.get(gid, [])),
        )
        by_gid.append(g)
    groups, refused = [], []
    position = torch.full((len(comps) + 1,), -1, dtype=torch.long)
    for gids, g in _with_joint_groups(prop, labels, group_of, by_gid):
        if not g.reason:
            position[gids] = len(groups)
        (refused if g.reason else groups).append(g)
    atom_group = position[group_of[labels].clamp(min=0)]
    atom_group[group_of[labels] < 0] = -1
    return WidthAnalysis(gm, prop, groups, refused, atom_group, labels)


def _with_joint_groups(
    prop: Propagation, labels: torch.Tensor, group_of: torch.Tensor, by_gid: list[WidthGroup]
) -> list[tuple[list[int], WidthGroup]]:
    """The groups in call order, those a split couples replaced by one joint group (see
    ``WidthGroup.parts``), each with the indices of the groups it stands for."""
    parent = list(range(len(by_gid)))

    def find(i: int) -> int:
        return _root(parent, i)

    split_by: dict[int, str] = {}
    for node, pieces in prop.splits.items():
        gids = torch.unique(group_of[labels[torch.cat(pieces)]])
        gids = [g for g in gids.tolist() if g >= 0]
        for g in gids:
            split_by.setdefault(g, node)
            parent[find(g)] = find(gids[0])
    out: list[tuple[list[int], WidthGroup]] = []
    done: set[int] = set()
    for gid, g in enumerate(by_gid):
        if gid not in split_by:
            out.append(([gid], g))
            continue
        root = find(gid)
        if root in done:
            continue
        done.add(root)
        gids = [i for i in range(len(by_gid)) if find(i) == root]
        parts = tuple(by_gid[i] for i in gids)

        def joined(field_: str, parts: tuple = parts) -> tuple:
            return tuple(dict.fromkeys(x for p in parts for x in getattr(p, field_)))

        node = split_by[gid]
        out.append(
            (
                gids,
                WidthGroup(
                    name=g.name,
                    width=sum(p.width for p in parts),
                    producers=joined("producers"),
                    consumers=joined("consumers"),
                    members=joined("members"),
                    tile=True,
                    params=joined("params"),
                    attributes=joined("attributes"),
                    reason=next((p.reason for p in parts if p.reason), "")
                    or _joint_reason(parts, node),
                    tile_reason=(
                        why := f"'{node}' splits its units into pieces (with those of "
                        f"{len(parts) - 1} other group(s)) that must each keep their units' copies"
                    ),
                    copies_only=why,
                    parts=parts,
                ),
            )
        )
    return out


def _joint_reason(parts: tuple[WidthGroup, ...], node: str) -> str:
    """Joint layouts keep copies in their split's piece, not in a grouped conv's block."""
    grouped = next((p for p in parts if p.blocks > 1), None)
    if grouped is None:
        return ""
    return (
        f"'{node}' splits the units of '{grouped.name}', which grouped convolutions also split "
        f"into {grouped.blocks} blocks: a split stream through grouped convs is not supported"
    )


def _param_members(prop, labels, group_of, spans, comps) -> tuple[dict, dict]:
    """Tensor attributes whose elements are units of a group: {gid: [(name, dim, offset)]},
    and {gid: reason} where a tensor holds a group's units in a layout widening cannot follow."""
    members: dict[int, list] = {}
    reasons: dict[int, str] = {}
    for target, (first, shape) in prop.params.items():
        lab = labels[first : first + shape.numel()].reshape(shape)
        gids = torch.unique(group_of[lab])
        for gid in gids[gids >= 0].tolist():
            f, w = spans[comps[gid][0]]
            place = _param_place(lab, group_of, gid, labels[f : f + w])
            if place is None:
                reasons.setdefault(
                    gid, f"the tensor '{target}' holds the units in a layout widening cannot follow"
                )
            else:
                members.setdefault(gid, []).append((target, *place))
    return members, reasons


def _param_place(lab, group_of, gid, classes) -> tuple[int, int] | None:
    """(dim, offset) where the tensor's labels ``lab`` hold the group's units in their order,
    along a single axis; None otherwise."""
    axes = [
        d
        for d in range(lab.ndim)
        if lab.shape[d] > 1 and not bool((lab == lab.narrow(d, 0, 1)).all())
    ]
    if len(axes) != 1:
        return None
    d = axes[0]
    seq = lab.movedim(d, 0).reshape(lab.shape[d], -1)[:, 0]
    inside = (group_of[seq] == gid).nonzero()[:, 0]
    off, w = int(inside[0]), len(classes)
    if len(inside) != w or int(inside[-1]) != off + w - 1:
        return None
    return (d, off) if torch.equal(seq[off : off + w], classes) else None


def _grouped_order(prop, labels, group_of, spans, comps) -> dict[int, str]:
    """A grouped conv must read one group's units in their own order, so that the copies
    appended to each block stay in that block (not after a channel shuffle or a concat)."""
    out: dict[int, str] = {}
    for ids, name, _ in prop.grouped:
        cls = labels[ids & MASK]
        gids = torch.unique(group_of[cls])
        gids = gids[gids >= 0].tolist()
        if len(gids) != 1 or bool((ids == 0).any()):
            why = f"grouped conv '{name}' reads units of several groups or fixed channels"
        else:
            first, width = spans[comps[gids[0]][0]]
            if torch.equal(cls, labels[first : first + width]):
                continue
            why = f"grouped conv '{name}' reads the units in another order (a channel shuffle)"
        for gid in gids:
            out.setdefault(gid, why)
    return out


def _unsupported(model: nn.Module, names: list[str]) -> str:
    for n in names:
        m = model.get_submodule(n)
        if isinstance(m, nn.modules.conv._ConvTransposeNd) and m.groups > 1:
            return f"'{n}' is a grouped transposed convolution (not supported)"
        if handler_for(m) is None:
            return f"'{n}' has no width handler"
    return ""
