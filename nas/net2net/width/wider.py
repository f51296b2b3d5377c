"""Net2WiderNet on any torch.fx-traceable model, with the remapping inferred from the graph.

One mapping (the *layout* ``L``: new unit -> old unit) covers a whole width group. Producers copy
rows ``L[j]`` (weights, bias; BatchNorm weight, bias, running mean and variance ride along as
per-channel members). Consumers' columns are found by running the widened graph on tags again:
each new input position is matched to the old position it copies, and divided by the number of
copies of that position (or split unevenly, still exactly, with ``split="uneven"``).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..errors import NotWidenableError
from ..verify import check_preserved
from .groups import WidthAnalysis, WidthGroup, analyze_widths, prop_spans
from .handlers import handler_for
from .propagate import Propagation, propagate
from .tags import SHIFT, match_positions

__all__ = ["WidthGroup", "widen", "widen_with_mapping", "width_groups"]

INITS = ("net2net", "random_pad", "random_init")
SPLITS = ("even", "uneven")

#: param name -> [(dim, index)]: new slice i along dim comes from old slice index[i]
Mapping = dict[str, list[tuple[int, torch.Tensor]]]


def width_groups(model: nn.Module, example_input: Any) -> list[WidthGroup]:
    """Every group of coupled units that :func:`widen` can grow exactly, in call order.

    Groups whose units reach the model's output, or that pass through an op the analysis does
    not understand, are left out (``widen`` names the reason when asked for one of them).
    """
    an = analyze_widths(model, example_input)
    if _trial(model, an, example_input, an.groups):
        return an.groups
    # Some group's widened graph does not run (e.g. a reshape to a size read off another
    # tensor): find which, one trial each (x3 and x4 too: a reshape may need a multiple).
    return [
        g for g in an.groups if any(_trial(model, an, example_input, [g], k) for k in (2, 3, 4))
    ]


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


def _check_width(g: WidthGroup, width: int) -> None:
    what = f"cannot widen '{g.name}' from {g.width} to {width}"
    if not isinstance(width, int) or width <= g.width:
        raise NotWidenableError(f"{what}: the new width must be an integer > {g.width}")
    if g.tile and width % g.width:
        raise NotWidenableError(
            f"{what}: {g.tile_reason}, which is exact only when every unit is replicated "
            f"equally; choose a multiple of {g.width}"
        )
    if g.width % g.blocks or width % g.blocks:
        raise NotWidenableError(
            f"{what}: grouped layers split the units into {g.blocks} blocks that must grow "
            f"equally; choose a multiple of {g.blocks}"
        )


def _replace(m: nn.Module, pname: str, new: torch.Tensor) -> None:
    old = getattr(m, pname)
    if isinstance(old, nn.Parameter):
        setattr(m, pname, nn.Parameter(new, requires_grad=old.requires_grad))
    else:
        m._buffers[pname] = new


def _exact(t: torch.Tensor) -> torch.Tensor:
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


def _column_scale(
    match: torch.Tensor, n_old: int, split: str, gen: torch.Generator | None
) -> torch.Tensor:
    counts = torch.bincount(match, minlength=n_old).to(torch.float64)
    if split == "even":
        return 1.0 / counts[match]
    w = 0.5 + torch.rand(len(match), generator=gen, dtype=torch.float64)
    total = torch.zeros(n_old, dtype=torch.float64).index_add_(0, match, w)
    return w / total[match]


def _set_columns(
    m: nn.Module, name: str, match: torch.Tensor, scale: torch.Tensor, mapping: Mapping
) -> None:
    h = handler_for(m)
    dense = h.groups(m) if h.kind == "producer" and h.groups(m) > 1 else 0
    for pname, dims in h.params(m).items():
        t = getattr(m, pname, None)
        if t is None:
            continue
        dim = dims.get("in", dims.get("chan"))
        if dim is None:
            continue
        data = _exact(t)
        data = _dense(data, dense) if dense and "in" in dims else data
        new = data.index_select(dim, match.to(t.device))
        if "in" in dims:
            shape = [1] * new.ndim
            shape[dim] = len(match)
            new = new * scale.to(device=t.device, dtype=new.dtype).reshape(shape)
            if dense:
                new = _sparse(new, dense)
        _replace(m, pname, new.contiguous())
        mapping.setdefault(f"{name}.{pname}" if name else pname, []).append((dim, match))
    h.resize(m, None, len(match))


def widen_with_mapping(
    model: nn.Module,
    group: WidthGroup | str,
    width: int,
    *,
    example_input: Any,
    noise: float = 0.0,
    seed: int | None = None,
    verify: bool = True,
    split: str = "even",
    init: str = "net2net",
) -> tuple[nn.Module, Mapping]:
    """:func:`widen`, also returning how every parameter was remapped (for optimizer state)."""
    if init not in INITS or split not in SPLITS:
        raise ValueError(f"widen: init must be one of {INITS} and split one of {SPLITS}")
    an = analyze_widths(model, example_input)
    g = an.find(group.name if isinstance(group, WidthGroup) else str(group))
    _check_width(g, width)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    L = layout(g.width, width, g.blocks, g.tile, gen)
    # Changed tensors are built in float64 (a float32 weight / 3 is not exact), checked, then
    # cast back to their own dtype.
    dtypes = {k: v.dtype for k, v in (*model.named_parameters(), *model.named_buffers())}
    child = copy.deepcopy(model)
    modules = dict(child.named_modules())
    mapping: Mapping = {}
    for name in g.producers:
        m = modules[name]
        h = handler_for(m)
        for pname, dims in h.params(m).items():
            t = getattr(m, pname, None)
            if t is not None and "out" in dims:
                _replace(m, pname, _exact(t).index_select(dims["out"], L.to(t.device)).contiguous())
                mapping.setdefault(f"{name}.{pname}", []).append((dims["out"], L))
        h.resize(m, width, None)

    what = f"cannot widen '{g.name}' to {width}"
    new = _widened_pass(an, child, example_input, {g: L}, what)
    for kind, module, match, n_old in _reader_matches(an.prop, new, what):
        scale = _column_scale(match, n_old, split, gen) if kind == "consumer" else None
        _set_columns(modules[module], module, match, scale, mapping)
    if init == "random_init":
        _reset(child, seed)
    elif init == "random_pad":
        _random_pad(child, g, L, seed)
    elif verify:
        check_preserved(model, child, example_input, what=f"widen '{g.name}' {g.width}->{width}")
    if noise and init == "net2net":
        _add_noise(child, g, L, noise, gen)
    for k, t in (*child.named_parameters(), *child.named_buffers()):
        if t.dtype != dtypes.get(k, t.dtype):
            t.data = t.data.to(dtypes[k])
    return child, mapping


def _widened_pass(
    an: WidthAnalysis, root: nn.Module, example_input: Any, layouts: dict, what: str
) -> Propagation:
    """Run the graph on tags with every group in ``layouts`` ({group: L}) widened."""
    spans = prop_spans(an.prop)
    emitted: dict[str, torch.Tensor] = {}
    for g, L in layouts.items():
        replica = (torch.arange(len(L)) + 1) << SHIFT
        for p in g.producers:
            emitted[p] = spans[p][0] + L + replica

    def emit(name: str, w: int, _first: int) -> torch.Tensor:
        return emitted[name] if name in emitted else torch.arange(w) + spans[name][0]

    widths = {p: len(L) for g, L in layouts.items() for p in g.producers}
    try:
        return propagate(an.gm, example_input, root=root, widths=widths, emit=emit)
    except Exception as exc:
        raise NotWidenableError(f"{what}: the widened graph does not run ({exc})") from exc


def _reader_matches(old: Propagation, new: Propagation, what: str) -> list:
    """(kind, module, match, n_old) for every module whose input units changed: ``match[i]``
    is the old input position that new position i copies. One match per module, whatever the
    number of calls (all calls share the weights)."""
    done: dict[str, torch.Tensor] = {}
    out = []
    for kind, olds, news in (
        ("consumer", old.consumers, new.consumers),
        ("channel", old.channels, new.channels),
    ):
        if [u.module for u in olds] != [u.module for u in news]:
            raise NotWidenableError(f"{what}: the widened graph reads units differently")
        for o, n in zip(olds, news, strict=True):
            if torch.equal(o.ids, n.ids):
                match = torch.arange(len(o.ids))
            else:
                match = match_positions(o.ids, n.ids)
                if match is None:
                    raise NotWidenableError(f"{what}: cannot map the inputs of '{o.module}'")
            if o.module in done:
                if not torch.equal(done[o.module], match):
                    raise NotWidenableError(
                        f"{what}: '{o.module}' is called on differently widened inputs"
                    )
                continue
            done[o.module] = match
            if not torch.equal(match, torch.arange(len(o.ids))):
                out.append((kind, o.module, match, len(o.ids)))
    return out


def _trial(
    model: nn.Module, an: WidthAnalysis, example_input: Any, groups: list, factor: int = 2
) -> bool:
    """Do these groups, ``factor`` x wider together, still run and map on tags? (no weights)"""
    layouts = {g: layout(g.width, factor * g.width, g.blocks, True, None) for g in groups}
    try:
        _reader_matches(an.prop, _widened_pass(an, model, example_input, layouts, ""), "")
    except NotWidenableError:
        return False
    return True


def _new_rows(L: torch.Tensor) -> torch.Tensor:
    """Positions of L that are copies (not the first occurrence of their source)."""
    seen = torch.zeros(int(L.max()) + 1, dtype=torch.bool)
    out = torch.zeros(len(L), dtype=torch.bool)
    for i, s in enumerate(L.tolist()):
        out[i], seen[s] = bool(seen[s]), True
    return out


def _add_noise(child: nn.Module, g: WidthGroup, L: torch.Tensor, noise: float, gen) -> None:
    rows = _new_rows(L)
    with torch.no_grad():
        for name in g.producers:
            m = child.get_submodule(name)
            for pname, dims in handler_for(m).params(m).items():
                t = getattr(m, pname, None)
                if t is None or "out" not in dims or not t.is_floating_point():
                    continue
                scale = float(t.std()) if t.numel() > 1 else 1.0
                eps = torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t)
                sel = rows.to(t.device).reshape(
                    [-1 if d == dims["out"] else 1 for d in range(t.ndim)]
                )
                t.add_(noise * scale * eps * sel)


def _reset(child: nn.Module, seed: int | None) -> None:
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for m in child.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
            if hasattr(m, "reset_running_stats"):
                m.reset_running_stats()


def _random_pad(child: nn.Module, g: WidthGroup, L: torch.Tensor, seed: int | None) -> None:
    """The paper's RandomPad baseline: new units get fresh random weights (not a copy)."""
    rows = _new_rows(L)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for name in g.producers:
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


def widen(
    model: nn.Module,
    group: WidthGroup | str,
    width: int,
    *,
    example_input: Any,
    noise: float = 0.0,
    seed: int | None = None,
    verify: bool = True,
    split: str = "even",
    init: str = "net2net",
) -> nn.Module:
    """Net2WiderNet: a copy of ``model`` whose ``group`` has ``width`` units, same function.

    Args:
        model: any torch.fx-traceable module; it is left untouched.
        group: a :class:`WidthGroup` or the name of any of its producers.
        width: the new number of units (> the current width).
        example_input: a batch the model accepts (tuple: positional args; dict: keyword args).
        noise: if > 0, add ``noise * std(weight) * N(0, 1)`` to the copied units' incoming
            weights after the check, so replicas stop being identical (the output moves a little).
        seed: seeds the choice of copied units, the uneven split and the noise.
        verify: check in float64 eval mode that the child computes the parent's function and
            raise :class:`VerificationError` otherwise.
        split: ``even`` divides the outgoing weights of a unit by its number of copies;
            ``uneven`` splits them at random (summing to 1): exact, yet the copies differ.
        init: ``net2net``; the paper's baselines ``random_pad`` (new units random) and
            ``random_init`` (the widened architecture, every weight fresh). Baselines are not
            function-preserving and skip the check.

    Raises:
        NotWidenableError: the group does not exist, cannot be widened, or the width is invalid.
        VerificationError: the self-check failed (no wrong model is ever returned).
    """
    return widen_with_mapping(
        model, group, width, example_input=example_input, noise=noise, seed=seed,
        verify=verify, split=split, init=init,
    )[0]  # fmt: skip
