"""Net2Net search vs scratch mode on the same budget: what warm starts buy.

Both modes run the same loop (same seed model, root budget, per-candidate train.* budget, sampler
and seeds) for the same wall-clock time (search.time_limit); scratch mode trains every proposed
architecture from random initialization. Reported per mode over seeds: the time to reach a fixed
val accuracy, the best val accuracy at equal wall time, and the best model's test accuracy.

    .venv/bin/python experiments/search_vs_scratch.py                 # 3 seeds, 150 s each
    .venv/bin/python experiments/search_vs_scratch.py --seconds 60 --seeds 0 --target 0.93
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from nas.data import mnist1d
from nas.models import model_spec
from nas.search import SearchConfig, prepare_search
from nas.train import Budget, TrainOptions


def run_one(mode: str, seed: int, seconds: float, workdir: Path) -> dict:
    """One search; returns its best-so-far curve and final numbers."""
    config = SearchConfig(
        study=f"{mode}-{seed}",
        seed=seed,
        warm_start=mode == "net2net",
        time_limit=seconds,
        trials=1000,
    )
    job = prepare_search(
        config,
        data=mnist1d(n_samples=4000, seed=seed),
        seed_model=model_spec("cnn1d", widths=[8, 8]),
        train=TrainOptions(budget=Budget(epochs=10), progress=False),
        storage=f"sqlite:///{workdir}/bench.db",
        artifacts=workdir / "artifacts",
        run_dir=workdir / f"{mode}-{seed}",
        progress=False,
    )
    t0 = time.perf_counter()
    summary = job.run()
    return {
        "curve": summary.best_so_far,
        "wall": time.perf_counter() - t0,
        "best_val": summary.best_val_acc,
        "test": summary.test_acc,
        "root_test": summary.root_test_acc,
        "candidates": summary.counts.get("complete", 0) + summary.counts.get("pruned", 0),
        "overhead": summary.timings["overhead_fraction"],
    }


def time_to(curve: list[dict], target: float) -> float | None:
    return next((p["elapsed"] for p in curve if p["best_val_acc"] >= target), None)


def best_at(curve: list[dict], t: float) -> float | None:
    vals = [p["best_val_acc"] for p in curve if p["elapsed"] <= t]
    return max(vals) if vals else None


def _fmt(values: list[float | None], fmt: str) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "never"
    mean = format(statistics.fmean(got), fmt)
    spread = format(statistics.pstdev(got), fmt) if len(got) > 1 else "0"
    miss = f" ({len(values) - len(got)} never)" if len(got) < len(values) else ""
    return f"{mean} ± {spread}{miss}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seconds", type=float, default=150.0, help="wall-time budget per search")
    ap.add_argument("--target", type=float, default=0.95, help="val accuracy to reach")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results: dict[str, list[dict]] = {"net2net": [], "scratch": []}
    with tempfile.TemporaryDirectory(prefix="nas-bench-") as tmp:
        for seed in args.seeds:
            for mode in results:
                r = run_one(mode, seed, args.seconds, Path(tmp))
                results[mode].append(r)
                print(
                    f"{mode:8s} seed {seed}: best val {r['best_val']:.4f} test {r['test']:.4f} "
                    f"({r['candidates']} candidates, {r['wall']:.0f}s, "
                    f"t->{args.target}: {time_to(r['curve'], args.target)})",
                    flush=True,
                )
    # equal wall time: the shortest search's last finished candidate, per seed
    table = Table(title=f"Net2Net vs scratch, {len(args.seeds)} seeds, {args.seconds:.0f}s each")
    for col in ("mode", f"time to val {args.target}", "best val @ equal time", "best val",
                "test acc (best)", "candidates", "loop overhead"):  # fmt: skip
        table.add_column(col, justify="right")
    equal = [
        min(r["curve"][-1]["elapsed"] for r in (results["net2net"][i], results["scratch"][i]))
        for i in range(len(args.seeds))
    ]
    for mode, runs in results.items():
        table.add_row(
            mode,
            _fmt([time_to(r["curve"], args.target) for r in runs], ".0f") + " s",
            _fmt([best_at(r["curve"], t) for r, t in zip(runs, equal, strict=True)], ".4f"),
            _fmt([r["best_val"] for r in runs], ".4f"),
            _fmt([r["test"] for r in runs], ".4f"),
            _fmt([float(r["candidates"]) for r in runs], ".1f"),
            _fmt([100 * r["overhead"] for r in runs], ".1f") + " %",
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
