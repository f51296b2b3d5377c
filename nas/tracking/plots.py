"""Matplotlib pictures of a lineage: the family tree and the accuracy curves of all candidates.

Both functions build a ``matplotlib.figure.Figure`` directly (no pyplot, no global backend
state), optionally save it as PNG, and return it. Every node, edge and curve carries a ``gid``
(``trial-<n>``, ``edge-<parent>-<child>``) so callers and tests can find them by trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nas.search.mutation import format_mutation
from nas.tracking.rows import Row, best_path, by_number, children_of, format_acc

BEST_COLOR = "#2a9d3f"
NODE_COLOR = "#4a6fa5"
STATE_COLORS = {"pruned": "#d99a1e", "fail": "#c0392b"}


def tree_layout(rows: Sequence[Row]) -> dict[int, tuple[float, float]]:
    """(x, y) for each trial: y = -generation, leaves spread left to right, parents centred."""
    kids = children_of(rows)
    pos: dict[int, tuple[float, float]] = {}
    next_x = [0.0]

    def place(number: int, depth: int) -> float:
        children = kids.get(number, [])
        if children:
            xs = [place(c, depth + 1) for c in children]
            x = (xs[0] + xs[-1]) / 2
        else:
            x, next_x[0] = next_x[0], next_x[0] + 1.0
        pos[number] = (x, -float(depth))
        return x

    for root in kids.get(None, []):
        place(root, 0)
    return pos


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return fig


def plot_lineage_tree(
    rows: Sequence[Row], path: str | Path | None = None, title: str = "lineage"
) -> Figure:
    """Draw the lineage: nodes labelled ``t<n>`` + val acc, edges labelled by mutation.

    The path from the root to the best candidate is drawn in green; pruned and failed
    candidates are coloured. Saved as PNG when ``path`` is given.
    """
    index = by_number(rows)
    pos = tree_layout(rows)
    on_path = best_path(rows)
    best_edges = set(pairwise(on_path))
    n_leaves = max(1, len({x for x, _ in pos.values()}))
    depth = max([1.0] + [-y + 1 for _, y in pos.values()])
    fig = Figure(figsize=(min(4 + 1.8 * n_leaves, 40), min(1.5 + 1.6 * depth, 40)))
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_axis_off()

    for number, (x, y) in pos.items():
        parent = index[number].get("parent")
        if parent not in pos or parent == number:
            continue
        px, py = pos[parent]
        on_best = (parent, number) in best_edges
        ax.annotate(
            "",
            xy=(x, y + 0.18),
            xytext=(px, py - 0.18),
            arrowprops={
                "arrowstyle": "->",
                "color": BEST_COLOR if on_best else "0.5",
                "lw": 2.5 if on_best else 1.0,
            },
            gid=f"edge-{parent}-{number}",
        )
        ax.text(  # nearer the child, where siblings' edges are furthest apart
            px + 0.62 * (x - px),
            py + 0.62 * (y - py),
            format_mutation(index[number].get("mutation")).replace("; ", "\n"),
            fontsize=7,
            ha="center",
            va="center",
            color="0.25",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            gid=f"mutation-{parent}-{number}",
        )

    for number, (x, y) in pos.items():
        row = index[number]
        state = str(row.get("state", "complete")).lower()
        color = BEST_COLOR if number in on_path else STATE_COLORS.get(state, NODE_COLOR)
        label = f"t{number}\n{format_acc(row.get('val_acc'))}"
        if state != "complete":
            label += f"\n{state}"
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=8,
            color="white",
            fontweight="bold" if number in on_path else "normal",
            bbox={
                "boxstyle": "round,pad=0.35",
                "fc": color,
                "ec": "black" if number in on_path else color,
            },
            gid=f"trial-{number}",
        )

    xs = [x for x, _ in pos.values()] or [0.0]
    ys = [y for _, y in pos.values()] or [0.0]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    return _save(fig, path)


def plot_curves(
    rows: Sequence[Row], path: str | Path | None = None, title: str = "val accuracy"
) -> Figure:
    """Val accuracy per epoch for every candidate with a curve; the best one drawn thick.

    When a row has ``val_acc_before`` (the warm-started accuracy), it is plotted at epoch 0, so
    warm-started children visibly start where their parent ended.
    """
    on_path = best_path(rows)
    best = on_path[-1] if on_path else None
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("val accuracy")
    ax.grid(alpha=0.3)
    drawn = 0
    for row in sorted(rows, key=lambda r: int(r["number"])):
        curve = [float(v) for v in row.get("curve") or [] if v is not None]
        if not curve:
            continue
        epochs = list(range(1, len(curve) + 1))
        if row.get("val_acc_before") is not None:
            epochs, curve = [0, *epochs], [float(row["val_acc_before"]), *curve]
        number = int(row["number"])
        is_best = number == best
        ax.plot(
            epochs,
            curve,
            marker="o",
            markersize=3,
            lw=2.5 if is_best else 1.0,
            alpha=1.0 if is_best else 0.6,
            color=BEST_COLOR if is_best else None,
            label=f"t{number}" + (" (best)" if is_best else ""),
            gid=f"trial-{number}",
            zorder=3 if is_best else 2,
        )
        drawn += 1
    if 0 < drawn <= 15:
        ax.legend(fontsize=7, ncols=2)
    return _save(fig, path)
