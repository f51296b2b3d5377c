"""Lineage read straight from the Optuna study: rows, the tree, paths and the best-so-far curve.

The study is the record; these functions only reshape its trials for printing and logging.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial

__all__ = ["best_so_far", "lineage_path", "lineage_rows", "lineage_tree", "row"]


def _iso(dt: Any) -> str | None:
    return dt.isoformat() if dt is not None else None


def row(t: FrozenTrial) -> dict:
    """One trial as a lineage row (contract keys, plus a few extras for tables)."""
    a = t.user_attrs
    return {
        "number": t.number,
        "parent": a.get("parent"),
        "state": t.state.name.lower(),
        "mutation": a.get("mutation", []),
        "val_acc": t.values[0] if t.values else None,
        "val_acc_before": a.get("val_acc_before"),
        "params": a.get("params"),
        "flops": a.get("flops"),
        "arch": a.get("arch", {}),
        "start": _iso(t.datetime_start),
        "end": _iso(t.datetime_complete),
        "curve": [r.get("val_acc") for r in a.get("curve", [])],
        "job_type": a.get("job_type", "candidate"),
        "hparams": a.get("hparams", {}),
        "reason": a.get("fail_reason") or a.get("prune_reason"),
        "compute_seconds": a.get("compute_seconds", 0.0),
    }


def lineage_rows(study: optuna.Study) -> list[dict]:
    """Every trial of the study, in trial order, as a lineage row."""
    return [row(t) for t in study.get_trials(deepcopy=False)]


def lineage_path(rows: list[dict], number: int) -> list[int]:
    """Trial numbers from the root down to ``number``."""
    index = {r["number"]: r for r in rows}
    path, seen = [], set()
    cur: int | None = number
    while cur is not None and cur in index and cur not in seen:
        seen.add(cur)
        path.append(cur)
        cur = index[cur]["parent"]
    return path[::-1]


def lineage_tree(rows: list[dict]) -> list[dict]:
    """Nested {"number", "val_acc", "state", "mutation", "children": [...]} from the roots."""
    nodes = {
        r["number"]: {k: r[k] for k in ("number", "val_acc", "state", "mutation")}
        | {"children": []}
        for r in rows
    }
    roots = []
    for r in rows:
        parent = r["parent"]
        (nodes[parent]["children"] if parent in nodes else roots).append(nodes[r["number"]])
    return roots


def best_so_far(rows: list[dict]) -> list[dict]:
    """After each finished candidate (in finish order): the best val accuracy so far."""
    done = sorted(
        (r for r in rows if r["state"] == "complete" and r["val_acc"] is not None and r["end"]),
        key=lambda r: r["end"],
    )
    if not done:
        return []
    t0 = min(r["start"] for r in rows if r["start"])
    from datetime import datetime

    start = datetime.fromisoformat(t0)
    best, out = float("-inf"), []
    for r in done:
        best = max(best, r["val_acc"])
        elapsed = (datetime.fromisoformat(r["end"]) - start).total_seconds()
        out.append({"number": r["number"], "elapsed": elapsed, "best_val_acc": best})
    return out
