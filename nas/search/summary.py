"""The end of a search: one test evaluation of the best candidate, export, optional final training,
and the summary table (with the loop's overhead: all but training forward/backward passes).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table

from nas.search import candidate as cand
from nas.search.callbacks import SearchSummary
from nas.search.lineage import best_so_far, lineage_path, lineage_rows
from nas.search.metrics import accuracy64, reinitialize
from nas.search.mutation import format_mutation
from nas.search.parents import candidates, pareto_front, rank_by_accuracy
from nas.train import evaluate, train

__all__ = ["finish", "print_summary"]


def _final_train(s: Any, best: Any, model: Any) -> dict:
    """Train the best architecture longer: warm (finetune) or from random init (scratch)."""
    mode = s.cfg.final_train
    if mode == "finetune":
        student, lr = copy.deepcopy(model), float(best.user_attrs["hparams"]["lr"])
    else:
        student = reinitialize(copy.deepcopy(model), s.cfg.seed + 7919)
        lr = s.env.train.lr
    options = s.env.train.with_epochs(s.cfg.final_epochs)
    kw = options.train_kwargs(lr=lr)
    kw["progress"] = options.progress and s.env.progress
    res = train(student, s.env.data, seed=s.cfg.seed, **kw)
    s.add_compute(float(res.compute_seconds))
    _, test = evaluate(student, s.env.data.test)
    return {
        "mode": mode,
        "epochs": s.cfg.final_epochs,
        "lr": lr,
        "status": res.status,
        "val_acc": accuracy64(student, s.env.data.val),
        "test_acc": float(test),
        "seconds": float(res.seconds),
        "model": student,
    }


def _export(s: Any, best: Any, model: Any, rows: list[dict], summary: SearchSummary) -> Path:
    """best/: model.pt (state_dict), architecture.json, lineage.json, model_card.json."""
    out = Path(s.env.out_dir) / s.cfg.export_dir
    out.mkdir(parents=True, exist_ok=True)
    cand.atomic_write_bytes(out / "model.pt", cand.state_dict_bytes(model))
    arch = {
        "seed": s.env.seed_spec,
        "path": best.user_attrs.get("arch", {}).get("path", []),
        "input_shape": list(s.input_shape),
        "num_classes": s.num_classes,
        "summary": best.user_attrs.get("arch", {}),
    }
    index = {r["number"]: r for r in rows}
    lineage = [
        {k: index[n][k] for k in ("number", "parent", "mutation", "val_acc", "val_acc_before")}
        for n in summary.best_path
    ]
    final = dict(summary.final_train or {})
    if final.get("model") is not None:
        cand.atomic_write_bytes(out / "final_model.pt", cand.state_dict_bytes(final.pop("model")))
    card = {
        "study": s.name,
        "trial": best.number,
        "data": s.env.data.name,
        "params": best.user_attrs.get("params"),
        "flops": best.user_attrs.get("flops"),
        "val_acc": summary.best_val_acc,
        "test_acc": summary.test_acc,
        "root_test_acc": summary.root_test_acc,
        "warm_start": s.cfg.warm_start,
        "generations": len(summary.best_path) - 1,
        "final_train": final or None,
        "load": "build_from_spec(seed) -> replay path (nas.search.space.replay) -> "
        "load_state_dict(torch.load('model.pt', weights_only=True))",
        "note": "warm-started networks can generalize slightly worse than the same "
        "architecture trained from scratch (Ash & Adams 2020); see final_train",
    }
    for name, obj in (("architecture", arch), ("lineage", lineage), ("model_card", card)):
        data = json.dumps(obj, indent=2, default=str).encode()
        cand.atomic_write_bytes(out / f"{name}.json", data)
    return out


def finish(s: Any) -> SearchSummary:
    """Pick the best candidate, test it once, export it and build the summary."""
    rows = lineage_rows(s.study)
    pool = candidates(s.study)
    counts = {
        st.name.lower(): len(s.study.get_trials(deepcopy=False, states=(st,)))
        for st in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    summary = SearchSummary(
        study_name=s.name,
        storage=s.env.storage_url,
        objective=s.cfg.objective,
        best_trial=None,
        best_val_acc=None,
        test_acc=None,
        root_test_acc=None,
        lineage=rows,
        best_so_far=best_so_far(rows),
        timings={},
        counts=counts,
    )
    best = model = None
    for t in rank_by_accuracy(pool):
        model = s.load(t)
        if model is not None:  # else corrupted since: the next best stands in
            best = t
            break
    if best is not None:
        summary.best_trial, summary.best_val_acc = best.number, best.values[0]
        summary.test_acc = float(evaluate(model, s.env.data.test)[1])
        summary.best_path = lineage_path(rows, best.number)
        root = s.root()
        root_model = s.load(root) if root is not None else None
        if root_model is not None:
            summary.root_test_acc = float(evaluate(root_model, s.env.data.test)[1])
        if len(s.cfg.directions) > 1:
            summary.pareto = [t.number for t in pareto_front(pool)]
        if s.cfg.final_train != "none":
            summary.final_train = _final_train(s, best, model)
        summary.export_dir = str(_export(s, best, model, rows, summary))
        if summary.final_train:
            summary.final_train.pop("model", None)
    summary.timings = s.timings()
    return summary


def print_summary(summary: SearchSummary, console: Console | None = None) -> None:
    """The final table: every candidate, then best / test / overhead lines."""
    console = console or Console(highlight=False)
    table = Table(title=f"study {summary.study_name}", show_lines=False)
    for col in ("#", "parent", "state", "mutation", "params", "MFLOPs", "val before", "val"):
        table.add_column(col, justify="left" if col in ("state", "mutation") else "right")
    on_path = set(summary.best_path)
    for r in summary.lineage:
        fmt = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731
        style = (
            "bold green"
            if r["number"] == summary.best_trial
            else ("green" if r["number"] in on_path else None)
        )
        mut = "root" if r["job_type"] == "root" else format_mutation(r["mutation"])
        mut = mut if r["mutation"] or r["job_type"] == "root" else "-"
        if r["reason"]:
            mut += f" ({r['reason'][:60]})"
        table.add_row(
            str(r["number"]),
            "" if r["parent"] is None else str(r["parent"]),
            r["state"],
            mut,
            "" if r["params"] is None else f"{r['params']:,}",
            "" if r["flops"] is None else f"{r['flops'] / 1e6:.2f}",
            fmt(r["val_acc_before"]),
            fmt(r["val_acc"]),
            style=style,
        )
    console.print(table)
    t = summary.timings
    c = summary.counts
    console.print(
        f"candidates: {c.get('complete', 0)} complete, {c.get('pruned', 0)} pruned, "
        f"{c.get('fail', 0)} failed; storage {summary.storage}"
    )
    if summary.best_trial is not None:
        console.print(
            f"best: trial #{summary.best_trial} val {summary.best_val_acc:.4f} "
            f"test {summary.test_acc:.4f} (seed model test {summary.root_test_acc or 0:.4f}); "
            f"lineage {' -> '.join(map(str, summary.best_path))}"
        )
    if summary.pareto:
        console.print(f"pareto front (acc vs params): {summary.pareto}")
    if summary.final_train:
        f = summary.final_train
        console.print(
            f"final_train={f['mode']} ({f['epochs']} epochs): val {f['val_acc']:.4f} "
            f"test {f['test_acc']:.4f} vs search best test {summary.test_acc:.4f}"
        )
    console.print(
        f"time: {t['wall_seconds']:.1f}s wall, {t['compute_seconds']:.1f}s training compute, "
        f"{t['trainings']} training runs, loop overhead {t['overhead_seconds']:.1f}s = {100 * t['overhead_fraction']:.1f}% "
        "(goal <= 5%)"
    )
    if summary.export_dir:
        console.print(f"exported to {summary.export_dir}")
