"""Helpers over lineage rows, shared by the terminal tree, the plots and the wandb table.

A lineage row is a dict as returned by ``nas.search.lineage.lineage_rows(study)``: keys
``number``, ``parent`` (None for the root), ``state``, ``mutation`` (list of transform dicts),
``val_acc``, ``val_acc_before``, ``params``, ``flops`` and ``curve`` (val accuracy per epoch).
Missing keys are tolerated everywhere, so rows built from callbacks work too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]

TABLE_COLUMNS = [
    "number",
    "parent",
    "state",
    "mutation",
    "val_acc",
    "val_acc_before",
    "params",
    "flops",
]


def format_mutation(mutation: Iterable[Mapping[str, Any]] | None) -> str:
    """One short line for a list of transforms, e.g. ``widen features.0 x2 (32); deepen head``.

    An empty or missing mutation (the root) gives ``"seed"``.
    """
    parts = []
    for step in mutation or []:
        if not isinstance(step, Mapping):
            parts.append(str(step))
            continue
        text = " ".join(str(x) for x in (step.get("op", "?"), step.get("target")) if x is not None)
        factor = step.get("factor")
        if isinstance(factor, int | float):
            text += f" x{factor:g}"
        if step.get("width") is not None:
            text += f" ({step['width']})"
        parts.append(text)
    return "; ".join(parts) if parts else "seed"


def format_acc(value: float | None) -> str:
    """Accuracy in percent with one decimal, or ``"-"`` when unknown."""
    return "-" if value is None else f"{100 * value:.1f}%"


def by_number(rows: Iterable[Row]) -> dict[int, Row]:
    """Index rows by trial number."""
    return {int(r["number"]): r for r in rows}


def children_of(rows: Iterable[Row]) -> dict[int | None, list[int]]:
    """Map each parent number (None for roots) to its children's numbers, in order.

    A row whose parent is not among the rows is treated as a root, so partial lineages still
    draw as a forest instead of losing nodes.
    """
    index = by_number(rows)
    kids: dict[int | None, list[int]] = {}
    for number in sorted(index):
        parent = index[number].get("parent")
        key = parent if parent in index and parent != number else None
        kids.setdefault(key, []).append(number)
    return kids


def best_number(rows: Iterable[Row]) -> int | None:
    """Trial number of the complete row with the highest val accuracy (lowest number on ties)."""
    best: tuple[float, int] | None = None
    for r in rows:
        acc = r.get("val_acc")
        if acc is None or r.get("state", "complete") not in ("complete", "COMPLETE"):
            continue
        key = (float(acc), -int(r["number"]))
        if best is None or key > best:
            best = key
    return None if best is None else -best[1]


def best_path(rows: Sequence[Row]) -> list[int]:
    """Trial numbers from the root down to the best candidate (empty if none completed)."""
    index = by_number(rows)
    node = best_number(rows)
    path: list[int] = []
    while node is not None and node in index and node not in path:
        path.append(node)
        node = index[node].get("parent")
    return path[::-1]


def table_data(rows: Iterable[Row]) -> list[list[Any]]:
    """Rows as lists in ``TABLE_COLUMNS`` order, mutation formatted as text."""
    data = []
    for r in sorted(rows, key=lambda r: int(r["number"])):
        line = [r.get(c) for c in TABLE_COLUMNS]
        line[TABLE_COLUMNS.index("mutation")] = format_mutation(r.get("mutation"))
        data.append(line)
    return data
