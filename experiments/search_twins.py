"""The warm search's best candidate against its own architecture trained from random init.

Why does the Net2Net search not reach the highest targets 3x sooner than scratch mode? This asks
the search's winner directly. Per seed: a Net2Net search (the settings of
``search_vs_scratch.py``) runs to its time limit; its best candidate finished by then is
compared with

* its *twins*: the same architecture, every weight freshly initialized, trained from scratch for
  each of ``--twin-epochs`` with the search's own training options (scratch mode's candidates);
* itself trained ``--more-epochs`` longer (the same options, from its trained weights).

If a short scratch run of the winner's architecture already matches it, the warm lineage's
head start is worth no more than those epochs; if more training adds nothing, the accuracy is
the task's ceiling for that architecture (train accuracy far above val: the data, not training
time, bounds it). Writes results.json, table.md and bars.png to ``--out``.

    .venv/bin/python experiments/search_twins.py                        # ~50 min, 2 workers
    .venv/bin/python experiments/search_twins.py --quick --out /tmp/tw  # seconds
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_vs_scratch import (
    LARGE,
    QUICK,
    _best_at_limit,
    _fmt,
    _positive_int,
    _run_all,
    _stats,
    _threads,
    prepare,
    trained_model,
)

RESULTS = Path(__file__).resolve().parent / "results" / "search_twins"
SPLITS = ("train", "val", "test")


def _accuracies(model: Any, data: Any) -> dict[str, float]:
    from nas.train import evaluate

    return {split: float(evaluate(model, getattr(data, split))[1]) for split in SPLITS}


def _params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def _train(model: Any, prepared: Any, epochs: int, seed: int) -> dict[str, Any]:
    """Train ``model`` in place with the search's options for ``epochs``; its accuracies after."""
    import dataclasses

    from nas.train import Budget, train

    options = dataclasses.replace(prepared.env.train, budget=Budget(epochs=epochs))
    t0 = time.perf_counter()
    result = train(model, prepared.env.data, seed=seed, **options.train_kwargs())
    if result.status != "completed":
        raise RuntimeError(f"search_twins: training stopped: {result.message}")
    return {"epochs": epochs, "seconds": time.perf_counter() - t0, "params": _params(model),
            **_accuracies(model, prepared.env.data)}  # fmt: skip


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One seed: the warm search, then its winner's twins and its longer training."""
    _threads()
    import copy

    from paper_common import fresh_copy

    prepared = prepare(job)
    summary = prepared.run()
    number = _best_at_limit(summary.best_so_far, job["seconds"])
    if number is None:
        raise RuntimeError(f"search_twins: seed {job['seed']}: no candidate finished in time")
    best = trained_model(prepared, number)
    data = prepared.env.data
    params = _params(best)
    elapsed = next(p["elapsed"] for p in summary.best_so_far if p["number"] == number)
    out: dict[str, Any] = {
        "seed": job["seed"],
        "winner": {
            "trial": number,
            "params": params,
            "elapsed": elapsed,
            **_accuracies(best, data),
        },
        "twins": [
            _train(fresh_copy(best, 1000 + job["seed"]), prepared, e, job["seed"])
            for e in job["twin_epochs"]
        ],
        "more": _train(copy.deepcopy(best), prepared, job["more_epochs"], job["seed"]),
    }
    print(f"seed {job['seed']}: winner trial {number} ({params} params) val "
          f"{out['winner']['val']:.3f}; twins "
          + ", ".join(f"{t['epochs']} ep {t['val']:.3f}" for t in out["twins"])
          + f"; +{job['more_epochs']} ep {out['more']['val']:.3f}", flush=True)  # fmt: skip
    return out


def table(runs: list[dict[str, Any]], more_epochs: int) -> tuple[list[dict], str]:
    """One row per arm (mean ± std over seeds) and the markdown table."""
    arms = [("the warm search's best (at the limit)", [r["winner"] for r in runs], "elapsed")]
    for i, twin in enumerate(runs[0]["twins"]):
        arms.append((f"its architecture from random init, {twin['epochs']} epochs",
                     [r["twins"][i] for r in runs], "seconds"))  # fmt: skip
    arms.append((f"the best trained {more_epochs} epochs more", [r["more"] for r in runs],
                 "seconds"))  # fmt: skip
    rows = []
    lines = [
        "| model | train acc | val acc | test acc | seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, recs, clock in arms:
        row = {"arm": name, **{s: _stats([r[s] for r in recs]) for s in SPLITS},
               "seconds": _stats([r[clock] for r in recs])}  # fmt: skip
        rows.append(row)
        lines.append(f"| {name} | " + " | ".join(_fmt(row[s], ".4f") for s in SPLITS)
                     + f" | {_fmt(row['seconds'], '.0f', ' s')} |")  # fmt: skip
    lines.append(
        "\nseconds: the warm search's wall time until its best candidate finished (the seed "
        "model's training included); for the others, their own training time."
    )
    return rows, "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / len(SPLITS)
    for j, split in enumerate(SPLITS):
        xs = [i + (j - 1) * width for i in range(len(rows))]
        ax.bar(xs, [r[split]["mean"] for r in rows], width, yerr=[r[split]["std"] for r in rows],
               capsize=3, label=split)  # fmt: skip
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["arm"].replace(", ", ",\n").replace(" (", "\n(") for r in rows],
                       fontsize=7)  # fmt: skip
    low = min(r[s]["mean"] for r in rows for s in SPLITS)
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set_ylabel("accuracy (mean over seeds)")
    ax.set_title("The warm search's winner vs its architecture from scratch")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    # defaults: the warm search of README's convnet table (its grid chose one-epoch children)
    ap.add_argument("--seconds", type=float, default=300.0, help="the warm search's time limit")
    ap.add_argument("--epochs", type=_positive_int, default=1, help="epochs per candidate")
    ap.add_argument("--seed-epochs", type=_positive_int, default=10, help="the seed model's epochs")
    ap.add_argument("--pruner", default="gain")
    ap.add_argument("--twin-epochs", type=_positive_int, nargs="+", default=[10, 30])
    ap.add_argument("--more-epochs", type=_positive_int, default=10)
    ap.add_argument("--samples", type=_positive_int, default=LARGE["n_samples"])
    ap.add_argument("--workers", type=_positive_int, default=2, help="seeds run side by side")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--quick", action="store_true", help="tiny data and budgets (a smoke run)")
    args = ap.parse_args(argv)
    if args.seconds <= 0:
        ap.error(f"--seconds: must be > 0, got {args.seconds}")
    data = QUICK if args.quick else {**LARGE, "n_samples": args.samples}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nas-twins-") as tmp:
        base = {
            "mode": "net2net", "epochs": args.epochs, "seconds": args.seconds,
            "seed_epochs": args.seed_epochs, "pruner": args.pruner, "pruner_warmup": 2,
            "data": data, "model": "cnn1d", "interval": "step",
            "twin_epochs": args.twin_epochs, "more_epochs": args.more_epochs,
        }  # fmt: skip
        jobs = [{**base, "seed": s, "work": tmp} for s in args.seeds]
        runs = _run_all(jobs, args.workers, run_one)
    rows, md = table(runs, args.more_epochs)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    (args.out / "results.json").write_text(
        json.dumps({"settings": settings | {"data": data}, "runs": runs, "rows": rows}, indent=1)
    )
    head = (
        f"The warm search's winner vs its architecture from scratch: cnn1d [8, 8] seed, "
        f"{data['n_samples']} MNIST-1D examples, {args.epochs} epochs per candidate, "
        f"{args.seconds:.0f} s, {len(args.seeds)} seeds (mean ± std)\n\n"
    )
    (args.out / "table.md").write_text(head + md + "\n")
    plot(rows, args.out / "bars.png")
    print(head + md)
    gaps = [r["winner"]["train"] - r["winner"]["val"] for r in runs]
    print(f"train - val of the winner: {statistics.fmean(gaps):.3f}")


if __name__ == "__main__":
    main()
