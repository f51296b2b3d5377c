"""Channel tags: which unit sits at which position of a tensor, stored cheaply.

A :class:`TV` ("tagged value") stands for one tensor of the traced graph. ``meta`` is a meta-device
tensor with the real shape (shape logic for free, no data); ``ids`` is an int64 tensor of *atom*
ids (0 = untagged) whose every dimension is either the real size or 1 (broadcast). Convolution
outputs carry ids along the channel axis only, so a 1x256x56x56 activation costs 256 ids, not 800k.
Data-movement ops are applied to ``ids`` directly when that is valid and on the materialized tensor
otherwise (flatten into Linear, channel shuffle), which keeps offsets and spatial blocks for free.

In the *new* (widened) graph an id also carries a replica index in its high bits:
``atom + (replica + 1) << 32`` where replica is the new unit index in the widened group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "TV",
    "Unions",
    "apply_ids",
    "atoms",
    "compact",
    "decode",
    "match_positions",
    "metas",
    "rep_along",
    "substitute",
    "tagged",
    "to_meta",
    "unit_axes",
    "wrap",
]

SHIFT = 32
MASK = (1 << SHIFT) - 1


@dataclass
class TV:
    """A tensor of the traced graph: real shape on the meta device plus compact unit ids."""

    meta: torch.Tensor
    ids: torch.Tensor | None = None
    #: widened groups whose units reached this (untagged) tensor through ops that drop tags;
    #: filled only by the trial passes of ``width_groups``, to say which group broke an op
    taint: frozenset[int] = frozenset()

    def full_ids(self) -> torch.Tensor:
        """ids expanded to the real shape (zeros when untagged)."""
        if self.ids is None:
            return torch.zeros(self.meta.shape, dtype=torch.long)
        return self.ids.expand(self.meta.shape)


def decode(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(atom, replica) of encoded ids; replica is -1 for units outside the widened group."""
    return ids & MASK, (ids >> SHIFT) - 1


def atoms(ids: torch.Tensor | None) -> torch.Tensor:
    """The distinct non-zero atoms among ``ids`` (replica bits dropped), sorted."""
    if ids is None:
        return torch.zeros(0, dtype=torch.long)
    a = torch.unique(ids) & MASK
    return torch.unique(a[a != 0])


def unit_axes(tv: TV) -> list[int]:
    """Axes along which the (compact) ids vary."""
    if tv.ids is None:
        return []
    return [d for d in range(tv.ids.ndim) if tv.ids.shape[d] > 1]


# ---- nested values (args, kwargs, outputs) holding TVs ------------------------------------------


def tagged(x: Any) -> list[TV]:
    """Every TV in a nested value, in order."""
    if isinstance(x, TV):
        return [x]
    if isinstance(x, tuple | list):
        return [t for v in x for t in tagged(v)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in tagged(v)]
    return []


def metas(x: Any) -> Any:
    """``x`` with every TV replaced by its meta tensor."""
    return substitute(x, None)


def substitute(x: Any, swap: dict[int, torch.Tensor] | None) -> Any:
    """``x`` with every TV replaced by ``swap[id(tv)]`` (by its meta tensor when swap is None)."""
    if isinstance(x, TV):
        return x.meta if swap is None else swap[id(x)]
    if isinstance(x, tuple | list):
        return type(x)(substitute(v, swap) for v in x)
    if isinstance(x, dict):
        return {k: substitute(v, swap) for k, v in x.items()}
    return x


def wrap(out: Any, ids: torch.Tensor | None = None) -> Any:
    """Meta result -> TV values (untagged unless ids are given for a single tensor)."""
    if isinstance(out, torch.Tensor):
        return TV(out, ids)
    if type(out) in (tuple, list):
        return type(out)(wrap(v) for v in out)
    if isinstance(out, tuple):  # torch.return_types (torch.max with dim) and namedtuples
        return tuple(wrap(v) for v in out)
    return out


def to_meta(t: Any) -> Any:
    """Real tensors (nested) -> empty meta tensors of the same shape and dtype."""
    if isinstance(t, torch.Tensor):
        return torch.empty_like(t, device="meta")
    if isinstance(t, tuple | list):
        return type(t)(to_meta(v) for v in t)
    if isinstance(t, dict):
        return {k: to_meta(v) for k, v in t.items()}
    return t


def compact(ids: torch.Tensor) -> torch.Tensor:
    """Shrink every dimension along which ids do not vary to size 1."""
    for d in range(ids.ndim):
        if ids.shape[d] > 1:
            first = ids.narrow(d, 0, 1)
            if bool((ids == first).all()):
                ids = first
    return ids


def _fits(ids: torch.Tensor, shape: torch.Size) -> bool:
    return ids.ndim == len(shape) and all(
        a in (1, b) for a, b in zip(ids.shape, shape, strict=True)
    )


def apply_ids(
    fn: Callable[..., Any],
    tvs: list[TV],
    meta_out: Any,
    rebuild: Callable,
    compact_first: bool = True,
) -> Any:
    """Apply a data-movement op to the ids of ``tvs``.

    ``rebuild(list_of_id_tensors)`` calls the op with those tensors in place of the tagged args.
    The op is tried on the compact ids first (unless ``compact_first`` is False: ops that pad
    to the real sizes); when that fails or gives a shape that does not broadcast to the real
    output, it is applied to the materialized ids and re-compacted.
    """
    outs_meta = meta_out if isinstance(meta_out, tuple | list) else [meta_out]
    try:
        if not compact_first:
            raise ValueError("materialize")
        res = rebuild([t.full_ids() if t.ids is None else t.ids for t in tvs])
        outs = res if isinstance(res, tuple | list) else [res]
        if len(outs) == len(outs_meta) and all(
            _fits(o, m.shape) for o, m in zip(outs, outs_meta, strict=True)
        ):
            return res
    except (RuntimeError, IndexError, ValueError, TypeError):
        pass
    res = rebuild([t.full_ids() for t in tvs])
    if isinstance(res, tuple | list):
        return type(res)(compact(r) for r in res)
    return compact(res)


def rep_along(ids: torch.Tensor | None, axis: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per position along ``axis``: (representative id, all ids at that position as rows).

    The representative is the first non-zero id along the other axes (0 if none), the same
    position in the old and new graph, so old and new representatives correspond.
    """
    if ids is None:
        z = torch.zeros(size, dtype=torch.long)
        return z, z[:, None]
    t = ids.movedim(axis, 0)
    t = t.expand((size, *t.shape[1:])).reshape(size, -1)
    if t.shape[1] == 1:
        return t[:, 0], t
    first = (t != 0).to(torch.int8).argmax(dim=1)
    return t.gather(1, first[:, None])[:, 0], t


def _occurrence(keys: torch.Tensor) -> torch.Tensor:
    """k for the k-th occurrence (in order) of each key among equal keys."""
    s, perm = torch.sort(keys, stable=True)
    idx = torch.arange(len(s))
    start = torch.ones(len(s), dtype=torch.bool)
    start[1:] = s[1:] != s[:-1]
    first = torch.cummax(torch.where(start, idx, torch.zeros_like(idx)), 0).values
    rank = torch.empty_like(idx)
    rank[perm] = idx - first
    return rank


def match_positions(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor | None:
    """For each new position, the old position it came from (None if they cannot be matched).

    A new position holding replica r of atom a takes the k-th old position holding a, where it
    is the k-th position holding (a, r): occurrences keep their order (spatial blocks after a
    flatten, repeated segments of a concatenation).
    """
    atom, _ = decode(new)
    m = max(len(old), len(new)) + 1
    old_key = old * m + _occurrence(old)
    new_key = atom * m + _occurrence(new)
    sorted_old, perm = torch.sort(old_key)
    pos = torch.searchsorted(sorted_old, new_key).clamp(max=len(old) - 1)
    if len(old) == 0 or not bool((sorted_old[pos] == new_key).all()):
        return None
    return perm[pos]


class Unions:
    """Equalities between atoms, collected as edge tensors and solved once (connected components)."""

    def __init__(self) -> None:
        self.a: list[torch.Tensor] = []
        self.b: list[torch.Tensor] = []

    def add(self, a: torch.Tensor, b: torch.Tensor) -> None:
        """Atoms a[i] and b[i] must be one unit (zeros are ignored)."""
        a, b = a.reshape(-1), b.reshape(-1)
        keep = (a != 0) & (b != 0) & (a != b)
        if bool(keep.any()):
            self.a.append(a[keep])
            self.b.append(b[keep])

    def labels(self, n: int) -> torch.Tensor:
        """Class label (the smallest atom of its class) for atoms 0..n-1."""
        label = torch.arange(n)
        if not self.a:
            return label
        a, b = torch.cat(self.a), torch.cat(self.b)
        while True:
            low = torch.minimum(label[a], label[b])
            new = label.clone()
            new.scatter_reduce_(0, a, low, "amin")
            new.scatter_reduce_(0, b, low, "amin")
            new = new[new]  # pointer jumping
            if torch.equal(new, label):
                return label
            label = new
