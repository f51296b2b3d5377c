"""The tensors of a widened group: which old unit each new one copies, and how every weight
follows.

The *layout* ``L`` (new unit -> old unit) covers a whole width group. Producers copy rows
``L[j]``; each module reading the group's units gets its input columns (or per-channel tensors)
from a ``match`` found by the widened tag pass (``wider``), columns divided among their copies.
The paper's baselines (RandomPad, RandomInit) and the symmetry-breaking noise are here too.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..noise import add_noise
from .handlers import handler_for

__all__ = [
    "Mapping",
    "column_scale",
    "copy_rows",
    "exact",
    "grow_params",
    "layout",
    "new_rows",
    "param_index",
    "perturb_rows",
    "random_pad",
    "replace",
    "reset",
    "set_columns",
]

#: param name -> [(dim, index)]: new slice i along dim comes from old slice index[i]
Mapping = dict[str, list[tuple[int, torch.Tensor]]]


def layout(
    old: int, new: int, blocks: int, tile: bool, gen: torch.Generator | None
) -> torch.Tensor:
    """New unit -> old unit: old units keep their place; each block appends copies of its own."""
    per_old, per_new = old // blocks, new // blocks
    parts = []
    for b in range(blocks):
        base = torch.arange(b * per_old, (b + 1) * per_old)
        extra = per_new - per_old
        if tile:
            src = base.repeat(extra // per_old)
        else:
            src = base[torch.randint(per_old, (extra,), generator=gen)]
        parts += [base, src]
    return torch.cat(parts)


def copy_rows(
    child: nn.Module, producers: tuple[str, ...], L: torch.Tensor, mapping: Mapping
) -> None:
    """Every producer's rows: new unit j copies old unit ``L[j]`` (in float64, see ``_exact``)."""
    for name in producers:
        m = child.get_submodule(name)
        h = handler_for(m)
        if hasattr(h, "copy_rows"):  # rows that are not simply the group's units
            h.copy_rows(m, name, L, mapping)
            continue
        for pname, dims in h.params(m).items():
            t = getattr(m, pname, None)
            if t is not None and "out" in dims:
                replace(m, pname, exact(t).index_select(dims["out"], L.to(t.device)).contiguous())
                mapping.setdefault(f"{name}.{pname}", []).append((dims["out"], L))
        h.resize(m, len(L), None)


def param_index(size: int, offset: int, L: torch.Tensor) -> torch.Tensor:
    """Along a tensor attribute's unit axis: new position -> old position, when the group's
    units (``offset .. offset + len(old)``) grow by the layout ``L``."""
    old = int(L.max()) + 1
    return torch.cat([torch.arange(offset), offset + L, torch.arange(offset + old, size)])


def grow_params(
    child: nn.Module, params: tuple[tuple[str, int, int], ...], L: torch.Tensor, mapping: Mapping
) -> None:
    """Tensor attributes carrying the units (position embeddings, layer scales, ...) copy
    their elements along the unit axis like the producers' rows."""
    for target, dim, offset in params:
        owner, _, pname = target.rpartition(".")
        m = child.get_submodule(owner)
        t = getattr(m, pname)
        idx = param_index(t.shape[dim], offset, L)
        replace(m, pname, exact(t).index_select(dim, idx.to(t.device)).contiguous())
        mapping.setdefault(target, []).append((dim, idx))
        h = handler_for(m)  # a norm's weight read by F.layer_norm inside its own forward
        if h is not None and "chan" in h.params(m).get(pname, {}):
            h.resize(m, None, len(idx))


def replace(m: nn.Module, pname: str, new: torch.Tensor) -> None:
    old = getattr(m, pname)
    if isinstance(old, nn.Parameter):
        setattr(m, pname, nn.Parameter(new, requires_grad=old.requires_grad))
    else:
        m._buffers[pname] = new


def exact(t: torch.Tensor) -> torch.Tensor:
    """Changed tensors are built in float64 (a float32 weight / 3 is not exact), checked, then
    cast back to their own dtype by the caller."""
    return t.detach().double() if t.is_floating_point() else t.detach()


def _dense(w: torch.Tensor, groups: int) -> torch.Tensor:
    """Grouped conv weight [O, I/G, k...] -> block-diagonal [O, I, k...]."""
    o, i = w.shape[0], w.shape[1] * groups
    d = w.new_zeros((o, i, *w.shape[2:]))
    for g in range(groups):
        ro, ri = (
            slice(g * o // groups, (g + 1) * o // groups),
            slice(g * i // groups, (g + 1) * i // groups),
        )
        d[ro, ri] = w[ro]
    return d


def _sparse(d: torch.Tensor, groups: int) -> torch.Tensor:
    o, i = d.shape[0], d.shape[1]
    return torch.cat(
        [
            d[g * o // groups : (g + 1) * o // groups, g * i // groups : (g + 1) * i // groups]
            for g in range(groups)
        ]
    )


def column_scale(
    match: torch.Tensor, n_old: int, split: str, gen: torch.Generator | None
) -> torch.Tensor:
    """Per new column: 1 / copies of its source (``even``), or a random share of the source
    such that the shares of its copies sum to 1 (``uneven``): both exact."""
    counts = torch.bincount(match, minlength=n_old).to(torch.float64)
    if split == "even":
        return 1.0 / counts[match]
    w = 0.5 + torch.rand(len(match), generator=gen, dtype=torch.float64)
    total = torch.zeros(n_old, dtype=torch.float64).index_add_(0, match, w)
    return w / total[match]


def set_columns(
    m: nn.Module, name: str, match: torch.Tensor, scale: torch.Tensor | None, mapping: Mapping
) -> None:
    """Rebuild ``m``'s input columns (or per-channel tensors): new position i copies old position
    ``match[i]``, columns scaled by ``scale`` (None for per-channel modules)."""
    h = handler_for(m)
    dense = h.groups(m) if h.kind == "producer" and h.groups(m) > 1 else 0
    for path, dims in h.params(m).items():
        owner, _, pname = path.rpartition(".")  # "qkv.weight": a submodule's tensor
        holder = m.get_submodule(owner) if owner else m
        t = getattr(holder, pname, None)
        if t is None:
            continue
        dim = dims.get("in", dims.get("chan"))
        if dim is None:
            continue
        data = exact(t)
        data = _dense(data, dense) if dense and "in" in dims else data
        new = data.index_select(dim, match.to(t.device))
        if "in" in dims:
            shape = [1] * new.ndim
            shape[dim] = len(match)
            new = new * scale.to(device=t.device, dtype=new.dtype).reshape(shape)
            if dense:
                new = _sparse(new, dense)
        replace(holder, pname, new.contiguous())
        mapping.setdefault(f"{name}.{path}" if name else path, []).append((dim, match))
    h.resize(m, None, len(match))


def new_rows(L: torch.Tensor) -> torch.Tensor:
    """Positions of L that are copies (not the first occurrence of their source)."""
    seen = torch.zeros(int(L.max()) + 1, dtype=torch.bool)
    out = torch.zeros(len(L), dtype=torch.bool)
    for i, s in enumerate(L.tolist()):
        out[i], seen[s] = bool(seen[s]), True
    return out


def perturb_rows(
    child: nn.Module,
    producers: tuple[str, ...],
    L: torch.Tensor,
    noise: float,
    gen: torch.Generator | None,
) -> None:
    """Add ``noise * std(tensor) * N(0, 1)`` to the copied rows of the producers' tensors."""
    rows = new_rows(L)
    for name in producers:
        m = child.get_submodule(name)
        for pname, dims in handler_for(m).params(m).items():
            t = getattr(m, pname, None)
            if t is None or "out" not in dims or not t.is_floating_point():
                continue
            scale = float(t.detach().std()) if t.numel() > 1 else 1.0
            where = rows.reshape([-1 if d == dims["out"] else 1 for d in range(t.ndim)])
            add_noise(t, noise * scale, gen, where)


def reset(child: nn.Module, seed: int | None) -> None:
    """The paper's RandomInit baseline: every weight of the widened architecture fresh."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for m in child.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
            if hasattr(m, "reset_running_stats"):
                m.reset_running_stats()


def random_pad(
    child: nn.Module, producers: tuple[str, ...], L: torch.Tensor, seed: int | None
) -> None:
    """New units get fresh random incoming weights, not a copy: the paper's RandomPad baseline
    and, with zero outgoing weights, ``init="zero_out"``."""
    rows = new_rows(L)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for name in producers:
            m = child.get_submodule(name)
            fresh = copy.deepcopy(m)
            fresh.reset_parameters()
            with torch.no_grad():
                for pname, dims in handler_for(m).params(m).items():
                    t = getattr(m, pname, None)
                    if t is not None and "out" in dims:
                        idx = rows.nonzero()[:, 0].to(t.device)
                        t.index_copy_(
                            dims["out"], idx, getattr(fresh, pname).index_select(dims["out"], idx)
                        )
