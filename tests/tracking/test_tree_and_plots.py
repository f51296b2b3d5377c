"""Lineage rendering: the rich tree, the PNG tree picture and the accuracy curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import pytest
from matplotlib.colors import to_hex
from tracking_helpers import scripted_search

from nas.tracking import (
    best_path,
    format_mutation,
    lineage_tree,
    plot_curves,
    plot_lineage_tree,
    render_lineage,
)
from nas.tracking.plots import BEST_COLOR
from nas.tracking.rows import children_of

ROWS = [c.row for c in scripted_search("s")]


def _parents_in_tree(tree) -> dict[int, int | None]:
    """Walk a rich Tree: trial number of each node -> trial number of the node above it."""
    found: dict[int, int | None] = {}

    def walk(node, parent: int | None) -> None:
        number = int(str(node.label).split()[0].removeprefix("t"))
        found[number] = parent
        for child in node.children:
            walk(child, number)

    for root in tree.children:
        walk(root, None)
    return found


def test_rich_tree_nests_every_trial_under_its_parent() -> None:
    tree = lineage_tree(ROWS, "s")
    assert _parents_in_tree(tree) == {r["number"]: r["parent"] for r in ROWS}


def test_rendered_text_shows_trials_mutations_states_and_best() -> None:
    text = render_lineage(ROWS, "s")
    lines = text.splitlines()
    assert lines[0] == "s"
    for r in ROWS:
        assert sum(line.split("── ")[-1].startswith(f"t{r['number']} ") for line in lines) == 1
    line = {r["number"]: next(ln for ln in lines if f"── t{r['number']} " in ln) for r in ROWS}
    indent = {n: ln.index(f"t{n} ") for n, ln in line.items()}
    for r in ROWS:  # each child sits one level deeper than its parent, below it
        if r["parent"] is not None:
            assert indent[r["number"]] == indent[r["parent"]] + 4
            assert lines.index(line[r["number"]]) > lines.index(line[r["parent"]])
    assert "deepen features.3; widen features.0 x2 (32)" in line[3]
    assert "* best" in line[3] and "* best" not in text.replace(line[3], "")
    assert "[pruned]" in line[4] and "[fail]" in line[5]
    assert "68.0%" in line[3] and "(from 58.0%)" in line[3]  # before = parent's acc


def test_best_path_and_helpers() -> None:
    assert best_path(ROWS) == [0, 1, 3]
    assert best_path([{**ROWS[0], "state": "fail", "val_acc": None}]) == []
    assert children_of(ROWS) == {None: [0], 0: [1, 2], 1: [3, 4], 2: [5]}
    orphan = [{"number": 7, "parent": 3}]  # parent outside the rows: drawn as a root
    assert children_of(orphan) == {None: [7]}
    assert format_mutation([]) == "seed"
    assert format_mutation([{"op": "widen", "target": "a", "factor": 1.5}]) == "widen a x1.5"


def test_tree_png_has_one_node_per_trial_and_labelled_edges(tmp_path: Path) -> None:
    png = tmp_path / "tree.png"
    fig = plot_lineage_tree(ROWS, png, title="s")
    ax = fig.axes[0]
    nodes = {t.get_gid(): t for t in ax.texts if (t.get_gid() or "").startswith("trial-")}
    assert sorted(nodes) == sorted(f"trial-{r['number']}" for r in ROWS)
    for r in ROWS:
        label = nodes[f"trial-{r['number']}"].get_text()
        assert label.startswith(f"t{r['number']}\n")
        if r["val_acc"] is not None:
            assert f"{100 * r['val_acc']:.1f}%" in label
    edges = {a.get_gid(): a for a in ax.texts if (a.get_gid() or "").startswith("edge-")}
    expected = {f"edge-{r['parent']}-{r['number']}" for r in ROWS if r["parent"] is not None}
    assert set(edges) == expected
    labels = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("mut")}
    assert labels["mutation-1-3"] == "deepen features.3\nwiden features.0 x2 (32)"
    for gid, arrow in edges.items():  # the best path (0 -> 1 -> 3) is highlighted
        color = to_hex(arrow.arrow_patch.get_edgecolor())
        assert (color == BEST_COLOR) == (gid in {"edge-0-1", "edge-1-3"}), gid
    image = matplotlib.image.imread(png)
    assert png.stat().st_size > 10_000 and image.shape[0] > 200 and image.shape[1] > 300


def test_curves_plot_one_line_per_trained_candidate(tmp_path: Path) -> None:
    fig = plot_curves(ROWS, tmp_path / "curves.png")
    lines = {ln.get_gid(): ln for ln in fig.axes[0].get_lines()}
    trained = [r for r in ROWS if r["curve"]]
    assert sorted(lines) == sorted(f"trial-{r['number']}" for r in trained)
    for r in trained:
        line = lines[f"trial-{r['number']}"]
        before = [] if r["val_acc_before"] is None else [r["val_acc_before"]]
        assert list(line.get_ydata()) == pytest.approx(before + r["curve"])
        assert list(line.get_xdata())[-1] == len(r["curve"])
    assert lines["trial-3"].get_linewidth() > lines["trial-1"].get_linewidth()
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_empty_and_large_lineages_draw() -> None:
    assert len(plot_lineage_tree([]).axes[0].texts) == 0
    big = [
        {"number": n, "parent": None if n == 0 else (n - 1) // 3, "val_acc": 0.5} for n in range(60)
    ]
    fig = plot_lineage_tree(big)
    assert sum((t.get_gid() or "").startswith("trial-") for t in fig.axes[0].texts) == 60
    assert render_lineage(big).count("── t") == 60
