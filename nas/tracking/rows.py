"""Helpers over lineage rows, shared by the terminal tree, the plots and the wandb table.

A lineage row is a dict as returned by ``nas.search.lineage.lineage_rows(study)``: keys
``number``, ``parent`` (None for the root), ``state``, ``mutation`` (list of transform dicts),
``val_acc``, ``val_acc_before``, ``params``, ``flops`` and ``curve`` (val accuracy per epoch).
Missing keys are tolerated everywhere, so rows built from callbacks work too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nas.search.mutation import format_mutation

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
    # derived, for grouping and filtering in a wandb table panel
    "ops",  # the mutation's kinds of transform: "widen", "deepen", "deepen+widen", "seed"
    "generation",  # transforms-deep: the root 0, its children 1, ...
    "gain",  # val_acc - val_acc_before: what training added to the warm start
    "on_best_path",  # on the lineage from the root to the best candidate
    "test_acc",  # measured for the best candidate and the root only
]


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


def table_data(
    rows: Iterable[Row], test_acc: Mapping[int, float | None] | None = None
) -> list[list[Any]]:
    """Rows as lists in ``TABLE_COLUMNS`` order: mutation as text, the derived columns filled.

    Args:
        rows: lineage rows.
        test_acc: test accuracy by trial number, where it was measured (best, root).
    """
    rows = sorted(rows, key=lambda r: int(r["number"]))
    index = by_number(rows)
    on_path = set(best_path(rows))
    data = []
    for r in rows:
        before, acc = r.get("val_acc_before"), r.get("val_acc")
        derived = {
            "mutation": format_mutation(r.get("mutation")),
            "ops": "+".join(sorted({str(m.get("op")) for m in r.get("mutation") or []})) or "seed",
            "generation": _generation(index, int(r["number"])),
            "gain": None if before is None or acc is None else float(acc) - float(before),
            "on_best_path": int(r["number"]) in on_path,
            "test_acc": (test_acc or {}).get(int(r["number"])),
        }
        data.append([derived[c] if c in derived else r.get(c) for c in TABLE_COLUMNS])
    return data


def _generation(index: Mapping[int, Row], number: int) -> int:
    depth, seen = 0, {number}
    parent = index[number].get("parent")
    while parent is not None and parent in index and parent not in seen:
        depth, seen = depth + 1, seen | {parent}
        parent = index[parent].get("parent")
    return depth
