"""Net2WiderNet on any torch.fx-traceable model, with the remapping inferred from the graph.

One mapping (the *layout* ``L``: new unit -> old unit) covers a whole width group. Producers copy
rows ``L[j]`` (weights, bias; BatchNorm weight, bias, running mean and variance ride along as
per-channel members). Consumers' columns are found by running the widened graph on tags again:
each new input position is matched to the old position it copies, and divided by the number of
copies of that position (or split unevenly, still exactly, with ``split="uneven"``). The tensor
arithmetic is in ``remap``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import Net2NetError, NotWidenableError
from ..graph.clone import clone_module
from ..verify import check_preserved
from .groups import WidthAnalysis, WidthGroup, analyze_widths, prop_spans
from .propagate import Propagation, propagate
from .remap import (
    Mapping,
    column_scale,
    copy_rows,
    grow_params,
    layout,
    new_rows,
    param_index,
    perturb_rows,
    random_pad,
    reset,
    set_columns,
)
from .tags import MASK, SHIFT, TV, decode, match_positions

__all__ = ["WidthGroup", "widen", "widen_with_mapping", "width_groups"]

INITS = ("net2net", "zero_out", "random_pad", "random_init")
SPLITS = ("even", "uneven")


def width_groups(model: nn.Module, example_input: Any) -> list[WidthGroup]:
    """Every group of coupled units that :func:`widen` can grow exactly, in call order.

    Groups whose units reach the model's output, or that pass through an op the analysis does
    not understand, are left out (``widen`` names the reason when asked for one of them).
    """
    an = analyze_widths(model, example_input)
    return _runnable(model, an, example_input, an.groups)


def _runnable(model: nn.Module, an: WidthAnalysis, example_input: Any, groups: list) -> list:
    """The groups whose widened graph runs. All of them at once, if it does; otherwise the
    groups whose units met the op that failed are set aside and the rest tried again (halves,
    when the failure names no group), and each one set aside is tried alone, x2, x3 and x4 (a
    reshape may need a multiple)."""
    ok, todo, aside = [], [list(groups)], []
    while todo:
        part = todo.pop()
        blamed = _blame(model, an, example_input, part)
        if blamed is None:
            ok += part
        elif len(part) == 1:
            aside += part
        elif blamed and len(blamed) < len(part):
            aside += blamed
            todo.append([g for g in part if g not in blamed])
        else:
            todo += [part[: len(part) // 2], part[len(part) // 2 :]]
    ok += [
        g for g in aside
        if any(_blame(model, an, example_input, [g], k) is None for k in (2, 3, 4))
    ]  # fmt: skip
    return [g for g in groups if g in ok]


def _blame(
    model: nn.Module, an: WidthAnalysis, example_input: Any, groups: list, factor: int = 2
) -> list | None:
    """None if these groups, ``factor`` x wider together, run and map on tags (no weights);
    else those of them whose units met the op that failed ([] if none is known)."""
    layouts: dict[WidthGroup, torch.Tensor] = {}
    for g in groups:
        if not g.parts:
            layouts[g] = layout(g.width, factor * g.width, g.blocks, True, None)
            continue
        try:
            layouts |= joint_layouts(an, model, example_input, g, factor)
        except NotWidenableError:
            return [g]
    try:
        new = _widened_pass(an, model, example_input, layouts, "", blame=True)
        _reader_matches(an.prop, new, "")
    except NotWidenableError as exc:
        cause: BaseException | None = exc
        while cause is not None and not hasattr(cause, "nas_inputs"):
            cause = cause.__cause__
        met: set[int] = set()
        for t in getattr(cause, "nas_inputs", []):
            met |= t.taint
            if t.ids is not None:
                met |= set(an.atom_group[torch.unique(t.ids) & MASK].tolist())
        if not met - {-1}:  # no tag reached the failing op: blame the units whose sizes
            for ids in getattr(cause, "nas_sized", []):  # the graph read (x.shape) before it
                widened = torch.unique(ids)
                widened = widened[(widened >> SHIFT) > 0] & MASK
                met |= set(an.atom_group[widened].tolist())
        return [g for g in groups if an.groups.index(g) in met]
    return None


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
    if noise and init == "zero_out":
        raise ValueError("widen: noise perturbs copied units; init='zero_out' makes none")
    name = group.name if isinstance(group, WidthGroup) else str(group)
    try:
        return _widen(model, name, width, example_input, noise, seed, verify, split, init)
    except Net2NetError:
        raise
    except Exception as exc:  # a case the analysis did not foresee: a refusal, not a crash
        raise NotWidenableError(
            f"cannot widen '{name}' to {width}: {type(exc).__name__}: {exc}"
        ) from exc


def _widen(
    model: nn.Module,
    group: str,
    width: int,
    example_input: Any,
    noise: float,
    seed: int | None,
    verify: bool,
    split: str,
    init: str,
) -> tuple[nn.Module, Mapping]:
    an = analyze_widths(model, example_input)
    g = an.find(group)
    _check_width(g, width)
    if init == "zero_out" and g.copies_only:
        raise NotWidenableError(
            f"cannot widen '{g.name}' with init='zero_out': its new units must be copies "
            f"({g.copies_only}); use init='net2net'"
        )
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    if g.parts:
        layouts = joint_layouts(an, model, example_input, g, width // g.width)
    else:
        layouts = {g: layout(g.width, width, g.blocks, g.tile, gen)}
    # Changed tensors are built in float64, checked, then cast back to their own dtype.
    dtypes = {k: v.dtype for k, v in (*model.named_parameters(), *model.named_buffers())}
    child = clone_module(model)
    mapping: Mapping = {}
    for part, L in layouts.items():
        copy_rows(child, part.producers, L, mapping)
        grow_params(child, part.params, L, mapping)
        for attr in part.attributes:
            owner, _, name = attr.rpartition(".")
            setattr(child.get_submodule(owner), name, len(L))

    what = f"cannot widen '{g.name}' to {width}"
    new = _widened_pass(an, child, example_input, layouts, what)
    # zero_out: one layout (a joint group must keep copies, refused above)
    fresh = new_rows(next(iter(layouts.values()))) if init == "zero_out" else None
    for kind, module, match, n_old, ids in _reader_matches(an.prop, new, what):
        if kind != "consumer":
            scale = None
        elif fresh is not None:
            scale = (~_reads_fresh(ids, fresh)).to(torch.float64)
        else:
            scale = column_scale(match, n_old, split, gen)
        set_columns(child.get_submodule(module), module, match, scale, mapping)
    if init == "random_init":
        reset(child, seed)
    elif init in ("random_pad", "zero_out"):
        for part, L in layouts.items():
            random_pad(child, part.producers, L, seed)
    if verify and init in ("net2net", "zero_out"):
        check_preserved(
            model, child, example_input, what=f"widen '{g.name}' {g.width}->{width}",
            refuse=NotWidenableError,
        )  # fmt: skip
    if noise and init == "net2net":
        for part, L in layouts.items():
            perturb_rows(child, part.producers, L, noise, gen)
    for k, t in (*child.named_parameters(), *child.named_buffers()):
        if t.dtype != dtypes.get(k, t.dtype):
            t.data = t.data.to(dtypes[k])
    return child, mapping


def _widened_pass(
    an: WidthAnalysis,
    root: nn.Module,
    example_input: Any,
    layouts: dict,
    what: str,
    blame: bool = False,
    free_splits: bool = False,
) -> Propagation:
    """Run the graph on tags with every group in ``layouts`` ({group: L}) widened; a split
    that moves a copy away from its source's piece fails it (``free_splits``: only recorded)."""
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
        return propagate(
            an.gm, example_input, root=root, widths=widths, emit=emit,
            param_ids=_param_ids(an.prop, layouts), rescale=an.prop.rescale_at,
            may_rescale=any(g.attributes for g in layouts),
            blame=an.atom_group if blame else None, splits=an.prop.splits,
            free_splits=free_splits, classes=None if free_splits else an.labels,
        )  # fmt: skip
    except NotWidenableError as exc:
        raise NotWidenableError(f"{what}: {exc}") from exc
    except Exception as exc:
        raise NotWidenableError(f"{what}: the widened graph does not run ({exc})") from exc


def joint_layouts(
    an: WidthAnalysis, model: nn.Module, example_input: Any, g: WidthGroup, k: int
) -> dict[WidthGroup, torch.Tensor]:
    """Every part of a joint group ``k`` times wider: new unit -> old unit per part, such that
    at every split each copy lands in the piece its source is in.

    A unit's *signature* is the piece it lands in at each split, in graph order. A widened
    pass with placeholder layouts tells each new position's signature (positions, not
    weights, decide where a unit goes); each new position then copies an old unit of its
    part with the same signature, the old units of a signature taking turns. Exact if every
    signature has at least as many new positions as old units, refused otherwise.
    """
    what = f"cannot widen '{g.name}' {k}x"
    spans = prop_spans(an.prop)
    unit_of: dict[int, tuple[int, int]] = {}  # atom -> (part, unit)
    for i, part in enumerate(g.parts):
        for p in part.producers:
            for u in range(part.width):
                unit_of[spans[p][0] + u] = (i, u)
    placeholder = {p: layout(p.width, k * p.width, 1, True, None) for p in g.parts}
    new = _widened_pass(an, model, example_input, placeholder, what, free_splits=True)
    old_sig: dict[tuple[int, int], list] = {}
    new_sig: dict[tuple[int, int], list] = {}
    for node, pieces in an.prop.splits.items():
        for piece, ids in enumerate(pieces):
            for a in ids.tolist():
                if a in unit_of:
                    old_sig.setdefault(unit_of[a], []).append((node, piece))
        for piece, ids in enumerate(new.splits.get(node, [])):
            for e in torch.unique(ids).tolist():
                atom, slot = e & MASK, (e >> SHIFT) - 1
                if slot >= 0 and atom in unit_of:
                    new_sig.setdefault((unit_of[atom][0], slot), []).append((node, piece))
    out = {}
    for i, part in enumerate(g.parts):
        olds: dict[tuple, list[int]] = {}
        for u in range(part.width):
            olds.setdefault(tuple(old_sig.get((i, u), ())), []).append(u)
        news: dict[tuple, list[int]] = {}
        for j in range(k * part.width):
            news.setdefault(tuple(new_sig.get((i, j), ())), []).append(j)
        L = torch.empty(k * part.width, dtype=torch.long)
        for sig, slots in news.items():
            units = olds.get(sig, [])
            if len(slots) < len(units) or not units:
                nodes = list(dict.fromkeys(f"'{node}'" for node, _ in sig)) or ["?"]
                where = nodes[0] if len(nodes) == 1 else f"{nodes[0]} ... {nodes[-1]}"
                raise NotWidenableError(
                    f"{what}: no layout keeps every unit's copies in its own piece at each split "
                    f"({where}); try another multiple"
                )
            if part.tile and len(slots) != k * len(units):
                raise NotWidenableError(
                    f"{what}: {part.tile_reason} needs every unit of '{part.name}' copied "
                    "equally, and the pieces of the split do not allow it at this width"
                )
            L[slots] = torch.tensor(units).repeat(-(-len(slots) // len(units)))[: len(slots)]
        if set(olds) - set(news):
            raise NotWidenableError(f"{what}: some units of '{part.name}' would get no copy")
        out[part] = L
    return out


def _param_ids(prop: Propagation, layouts: dict) -> dict[str, torch.Tensor]:
    """The ids every tensor attribute carries in the widened pass: its old atoms, with the
    units of each widened group copied like a producer's (replica bits on the group's part)."""
    out = {}
    for target, (first, shape) in prop.params.items():
        ids = torch.arange(shape.numel()).reshape(shape) + first
        grown = [
            (off, dim, L) for g, L in layouts.items() for t, dim, off in g.params if t == target
        ]
        for off, dim, L in sorted(grown, key=lambda e: e[0], reverse=True):
            ids = ids.index_select(dim, param_index(ids.shape[dim], off, L))
            replica = torch.zeros(ids.shape[dim], dtype=torch.long)
            replica[off : off + len(L)] = (torch.arange(len(L)) + 1) << SHIFT
            ids = ids + replica.reshape([-1 if d == dim else 1 for d in range(ids.ndim)])
        out[target] = ids
    return out


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
                    err = NotWidenableError(f"{what}: cannot map the inputs of '{o.module}'")
                    err.nas_inputs = [TV(torch.empty(0, device="meta"), o.ids)]
                    raise err
            if o.module in done:
                if not torch.equal(done[o.module], match):
                    raise NotWidenableError(
                        f"{what}: '{o.module}' is called on differently widened inputs"
                    )
                continue
            done[o.module] = match
            if not torch.equal(match, torch.arange(len(o.ids))):
                out.append((kind, o.module, match, len(o.ids), n.ids))
    return out


def _reads_fresh(ids: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
    """Which input positions of a reader hold a new unit: the widened pass tags every unit of
    the group (a producer's row or a tensor attribute's element) with its layout slot, and
    ``fresh[slot]`` says whether that slot is a new unit (``new_rows``)."""
    _, slot = decode(ids)
    return (slot >= 0) & fresh[slot.clamp(min=0)]


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
        init: ``net2net`` (new units copy old ones); ``zero_out``: new units get fresh random
            incoming weights and zero outgoing weights, so they add nothing until trained
            (exact, and unlike copies they differ from every old unit; ``split`` does not
            apply, ``noise`` is an error; a group whose new units must be copies is refused:
            ``WidthGroup.copies_only`` names the norm, mean or max across its units or the
            split into pieces that fresh units would change); the paper's baselines ``random_pad`` (new units
            random, outgoing weights split as copies) and ``random_init`` (the widened
            architecture, every weight fresh). Baselines are not function-preserving and skip
            the check.

    Raises:
        ValueError: an unknown ``init`` or ``split``, or ``noise`` with ``init="zero_out"``.
        NotWidenableError: the group does not exist, cannot be widened, or the width is invalid.
        VerificationError: the self-check failed (no wrong model is ever returned).
    """
    return widen_with_mapping(
        model, group, width, example_input=example_input, noise=noise, seed=seed,
        verify=verify, split=split, init=init,
    )[0]  # fmt: skip
