"""Terminal rendering of a lineage as a ``rich.tree.Tree``."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from nas.search.mutation import format_mutation
from nas.tracking.rows import Row, best_path, by_number, children_of, format_acc

_STATE_STYLE = {"complete": "", "pruned": "yellow", "fail": "red", "running": "cyan"}


def _label(row: Row, on_best_path: bool, is_best: bool) -> Text:
    state = str(row.get("state", "complete")).lower()
    text = Text(f"t{row['number']}", style="bold green" if on_best_path else "bold")
    text.append(f"  {format_acc(row.get('val_acc'))}")
    if row.get("val_acc_before") is not None and row.get("parent") is not None:
        text.append(f" (from {format_acc(row.get('val_acc_before'))})", style="dim")
    text.append(f"  {format_mutation(row.get('mutation'))}", style="italic")
    if row.get("params") is not None:
        text.append(f"  {int(row['params']):,} params", style="dim")
    if state != "complete":
        text.append(f"  [{state}]", style=_STATE_STYLE.get(state, "magenta"))
    if is_best:
        text.append("  * best", style="bold green")
    return text


def lineage_tree(rows: Sequence[Row], title: str = "lineage") -> Tree:
    """Build a rich Tree: one node per trial under its parent; the path to the best is green.

    Args:
        rows: lineage rows (see ``nas.tracking.rows``).
        title: label of the tree's top node (e.g. the study name).
    """
    index = by_number(rows)
    kids = children_of(rows)
    path = best_path(rows)
    best = path[-1] if path else None
    top = Tree(Text(title, style="bold"))

    def add(parent_node: Tree, number: int) -> None:
        node = parent_node.add(_label(index[number], number in path, number == best))
        for child in kids.get(number, []):
            add(node, child)

    for root in kids.get(None, []):
        add(top, root)
    return top


def render_lineage(rows: Sequence[Row], title: str = "lineage", width: int = 120) -> str:
    """The lineage tree as plain text (no colour codes), e.g. for logs and tests."""
    console = Console(file=io.StringIO(), width=width, no_color=True, color_system=None)
    console.print(lineage_tree(rows, title))
    return console.file.getvalue()  # type: ignore[attr-defined]
