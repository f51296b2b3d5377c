"""What one tag pass records: which module reads, produces and couples which units, and which
units it refuses (with the reason). The rules in ``module_rules`` and ``op_rules`` write it."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .tags import MASK, TV, Unions, atoms, rep_along, unit_axes

__all__ = ["Propagation", "Use"]


@dataclass
class Use:
    """One call of a module that reads (consumer) or passes through (channel) tagged units."""

    module: str
    axis: int
    ids: torch.Tensor  # representative id per position along ``axis``


@dataclass
class Propagation:
    """What one pass found (see ``propagate``)."""

    producers: dict[str, int] = field(default_factory=dict)  # module -> first atom (atoms 1-based)
    widths: dict[str, int] = field(default_factory=dict)  # producer -> its number of units
    #: tensor attribute (``get_attr``) -> its first atom; every element gets its own atom, which
    #: the ops it meets make one with units (a position embedding added to the stream, a layer
    #: scale multiplied into it, a norm's weight): then it grows with them
    params: dict[str, tuple[int, torch.Size]] = field(default_factory=dict)  # first atom, shape
    consumers: list[Use] = field(default_factory=list)
    channels: list[Use] = field(default_factory=list)
    unions: Unions = field(default_factory=Unions)
    blocked: dict[int, str] = field(default_factory=dict)  # atom -> reason
    #: (atoms, what, groups) that must be replicated equally (norms and means across units)
    tiles: list[tuple[torch.Tensor, str, int]] = field(default_factory=list)
    #: (atoms, what, 1) exact only while new units are copies (a max over the units)
    copies_only: list[tuple[torch.Tensor, str, int]] = field(default_factory=list)
    #: (ids, conv, groups) read or produced by grouped convs
    grouped: list[tuple[torch.Tensor, str, int]] = field(default_factory=list)
    #: node -> (axis, literal size, input elements): reshapes to a literal number of units
    rescale_at: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    #: the same, given to a widened pass: where such a size no longer fits, it grows with the
    #: input if ``may_rescale`` (a registered attribute holds it), else the pass refuses
    rescale: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    may_rescale: bool = False
    #: ids whose sizes the graph read (``x.shape``), kept by the trial passes of
    #: ``width_groups``: a failure no tag reaches is blamed on them
    sized: list[torch.Tensor] | None = None
    order: list[str] = field(default_factory=list)  # modules in call order
    n_atoms: int = 0
    #: node -> its pieces' ids: splits (x.chunk(2) of a ShuffleNet stream) whose pieces each
    #: keep whole units; the groups whose units they split grow together (``joint``)
    splits: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    #: a widened pass: the first pass's ``splits`` (atoms per piece); a piece holding a copy of a
    #: unit from another piece fails the pass. None: the first pass
    joint: dict[str, list[torch.Tensor]] | None = None
    #: a widened pass that only records where each copy lands (``joint`` layouts are built from it)
    free_splits: bool = False
    #: a widened pass: the first pass's unit class per atom; tagged operands of an elementwise op
    #: must hold copies of one class at every position (a shuffle whose permutation changes with
    #: the width would pair other units)
    classes: torch.Tensor | None = None

    def block(self, tvs: list[TV], reason: str) -> None:
        """Refuse every unit of ``tvs`` (the first reason given for a unit is kept)."""
        for tv in tvs:
            for a in atoms(tv.ids).tolist():
                self.blocked.setdefault(a, reason)

    def split(self, node: str, pieces: list[torch.Tensor], before: torch.Tensor) -> bool:
        """A multi-output op: True if it is a split widening can follow, each piece keeping
        whole units (recorded in ``splits``); False otherwise (the caller refuses units that a
        piece loses)."""
        if len(pieces) < 2:
            return False
        if self.free_splits:
            self.splits[node] = pieces
            return True
        got = [atoms(p) for p in pieces]
        if self.joint is None:  # first pass: every unit in exactly one piece
            joined = torch.cat(got)
            if len(joined) != len(before) or not torch.equal(joined.sort().values, before):
                return False
            self.splits[node] = got
            return True
        old = self.joint.get(node)
        if old is None or len(old) != len(got):
            return False
        for i, (new, had) in enumerate(zip(got, old, strict=True)):
            if not bool(torch.isin(new, had).all()):
                raise ValueError(
                    f"'{node}' puts a copy of a unit into piece {i}, away from its source: "
                    "the groups it splits must grow together, with a layout that keeps each "
                    "unit's copies in its piece"
                )
        self.splits[node] = pieces
        return True

    def first_atom(self, producer: str, width: int) -> int:
        """The first of the ``width`` atoms of ``producer`` (allocated on its first call)."""
        if producer not in self.producers:
            self.producers[producer] = self.n_atoms + 1
            self.widths[producer] = width
            self.n_atoms += width
        return self.producers[producer]

    def param_ids(self, target: str, shape: torch.Size) -> torch.Tensor:
        """One atom per element of the tensor attribute ``target`` (allocated on first use)."""
        if target not in self.params:
            self.params[target] = (self.n_atoms + 1, shape)
            self.n_atoms += shape.numel()
        return torch.arange(shape.numel()).reshape(shape) + self.params[target][0]

    def single_axis(self, tv: TV, axis: int | None, what: str) -> bool:
        """Units must vary along ``axis`` only; otherwise block them and return False."""
        if axis is None or any(d != axis % tv.meta.ndim for d in unit_axes(tv)):
            self.block([tv], f"{what} reads units along an axis it does not treat per unit")
            return False
        return True

    def read(self, uses: list[Use], name: str, axis: int, x: TV) -> Use:
        """Record a call reading units; one weight column per position couples the units every
        call of the same module reads at that position."""
        use = Use(name, axis, rep_along(x.ids, axis, x.meta.shape[axis])[0])
        for other in uses:
            if other.module == name:
                if len(other.ids) == len(use.ids):
                    self.unions.add(other.ids & MASK, use.ids & MASK)
                else:
                    self.block(
                        [x, TV(x.meta, other.ids)],
                        f"'{name}' is called on inputs of different widths",
                    )
                break
        uses.append(use)
        return use
