"""A mutation step as a typed record: what the search writes to a trial and replays later.

A candidate's mutation is a list of steps (``trial.user_attrs["mutation"]``, JSON); a lineage
path is the concatenation of its ancestors' mutations. :class:`Mutation` is the one place that
knows the fields; everything that reads or writes a step goes through it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["OPS", "TRAIN", "Mutation", "format_mutation", "is_train_step"]

OPS = ("widen", "deepen", "train")
#: the op that keeps the architecture: the child continues training its parent's weights
TRAIN = "train"


@dataclass(frozen=True)
class Mutation:
    """One Net2Net transform of a candidate, or a step that trains it further as it is.

    Attributes:
        op: ``"widen"``, ``"deepen"`` or ``"train"`` (the same architecture and weights: the
            child continues its parent's training; a step of its own, never combined).
        target: The width group or depth point (stable module names; ``""`` for train).
        noise: Noise added to the new units (0: exact).
        seed: Seeds the choice of copied units, the uneven split and the noise.
        width: New width (widen).
        old_width: Width before (widen).
        factor: The suggested widening factor (widen).
        split: ``"even"`` or ``"uneven"`` (widen; records written before it existed are even).
        init: ``"zero_out"``: new units fresh with zero outgoing weights (widen; None: copies).
        kind: The depth point's kind (deepen).
    """

    op: str
    target: str
    noise: float = 0.0
    seed: int | None = None
    width: int | None = None
    old_width: int | None = None
    factor: float | None = None
    split: str | None = None
    init: str | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown mutation {self.op!r}; choose one of: {', '.join(OPS)}")
        if self.init not in (None, "zero_out"):
            raise ValueError(f"unknown widen init {self.init!r}; a record holds zero_out or none")

    def to_json(self) -> dict[str, Any]:
        """The JSON dict stored in a trial (fields that are None are left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, record: Mapping[str, Any] | Mutation) -> Mutation:
        """Read a stored step; unknown fields are an error (a record from something else)."""
        if isinstance(record, Mutation):
            return record
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - names)
        if unknown or "op" not in record or "target" not in record:
            raise ValueError(f"not a mutation record: {dict(record)!r}")
        return cls(**dict(record))

    def key(self) -> tuple[str, str, int | None]:
        """What makes two steps the same transform: (op, target, width)."""
        return (self.op, self.target, self.width)

    def describe(self) -> str:
        """``widen features.0 x2 (32)`` / ``deepen features.3`` / ``train``."""
        text = f"{self.op} {self.target}" if self.target else self.op
        if self.factor is not None:
            text += f" x{self.factor:g}"
        if self.width is not None:
            text += f" ({self.width})"
        if self.init:
            text += f" {self.init}"
        return text


def format_mutation(mutation: Iterable[Mapping[str, Any] | Mutation] | None) -> str:
    """One short line for a list of steps, e.g. ``widen features.0 x2 (32); deepen head``.

    An empty or missing mutation (the root) gives ``"seed"``; a step that is not a mutation
    record is shown as it is.
    """
    parts = []
    for step in mutation or []:
        try:
            parts.append(Mutation.from_json(step).describe())  # type: ignore[arg-type]
        except (ValueError, TypeError):
            parts.append(str(step))
    return "; ".join(parts) if parts else "seed"


def is_train_step(mutation: Iterable[Mapping[str, Any] | Mutation] | None) -> bool:
    """Whether a candidate's mutation is the train step (it always comes alone)."""
    ops = [Mutation.from_json(step).op for step in mutation or []]
    return ops == [TRAIN]
