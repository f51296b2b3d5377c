"""Net2Net search vs scratch mode at equal wall time: what warm starts buy a search.

Both modes run the same loop through the library (``nas.search.prepare_search``): same seed model,
root budget, sampler, pruner and seeds, the same wall-clock budget (``time_limit``: no candidate
starts after it). Scratch mode trains every proposed architecture from random initialization.
Each mode's per-candidate budget (epochs) is picked from the same grid on the selection seed, by
its best val accuracy at the time limit, and then every seed runs at that mode's own choice.

Reported per mode over seeds: time to each of several val-accuracy targets (from just above the
seed model's accuracy to the best any run reached), the best val accuracy at the time limit and
its test accuracy, candidates finished, loop overhead; a plot of best-so-far val accuracy against
wall time for both modes. Runs go two at a time (one torch thread each), net2net beside scratch.

    .venv/bin/python experiments/search_vs_scratch.py                    # full size (~40 min)
    .venv/bin/python experiments/search_vs_scratch.py --quick --out /tmp/svs   # seconds
    .venv/bin/python experiments/search_vs_scratch.py --model vit \
        --out experiments/results/search_vs_scratch_vit                  # a ViT seed
    .venv/bin/python experiments/search_vs_scratch.py --set 'widen_factors=[1.5]' max_ops=1
                                                    # more search settings, the same for both modes
    .venv/bin/python experiments/search_vs_scratch.py --samples 60000 --seconds 600 \
        --out experiments/results/search_vs_scratch_60k                 # a bigger task
    .venv/bin/python experiments/search_vs_scratch.py --report-only --out DIR   # redo the table

Only candidates finished by the time limit count (the one running at the limit finishes later).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "search_vs_scratch"
MODES = ("net2net", "scratch")
#: SearchConfig fields the comparison itself decides (per mode, or from its own options)
FIXED_BY_SCRIPT = {
    "study",
    "seed",
    "warm_start",
    "time_limit",
    "trials",
    "seed_epochs",
    "pruner",
    "pruner_warmup",
}
# conf/data/mnist1d_large.yaml: the benchmark task where a candidate's training costs something.
LARGE = {"n_samples": 20000, "corr_noise_scale": 0.4, "iid_noise_scale": 0.05}
QUICK = {"n_samples": 1000}
#: seed models: the default small convnet, or a small ViT (patches of 4 -> 10 tokens + class)
SEEDS = {
    "cnn1d": ("cnn1d", {"widths": [8, 8]}),
    "vit": ("vit", {"patch_size": 4, "dim": 8, "heads": 2, "depth": 1}),
}


def _threads() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def prepare(job: dict[str, Any]) -> Any:
    """The search ``job`` describes (mode, seed, epochs per candidate, ...), ready to run."""
    from nas.data import mnist1d
    from nas.models import model_spec
    from nas.search import SearchConfig, prepare_search
    from nas.train import Budget, TrainOptions

    mode, seed, epochs, work = job["mode"], job["seed"], job["epochs"], Path(job["work"])
    name = f"{mode}-e{epochs}-s{seed}"
    config = SearchConfig(
        study=name,
        seed=seed,
        warm_start=mode == "net2net",
        time_limit=job["seconds"],
        trials=100_000,
        seed_epochs=job["seed_epochs"],
        pruner=job["pruner"],
        pruner_warmup=job["pruner_warmup"],
        **mode_settings(job.get("search", {}), job.get("net2net_search", {}), mode),
    )
    return prepare_search(
        config,
        data=mnist1d(seed=seed, **job["data"]),
        seed_model=model_spec(SEEDS[job["model"]][0], **SEEDS[job["model"]][1]),
        train=TrainOptions(
            budget=Budget(epochs=epochs), scheduler_interval=job["interval"], progress=False
        ),
        storage=f"sqlite:///{work}/{name}.db",
        artifacts=work / "artifacts",
        run_dir=work / name,
        progress=False,
    )


def mode_settings(both: dict[str, Any], net2net_only: dict[str, Any], mode: str) -> dict:
    """The extra SearchConfig fields of ``mode``: ``--set`` for both, ``--net2net-set`` on top
    for the warm mode (settings scratch mode has no use for, such as the train step)."""
    return {**both, **(net2net_only if mode == "net2net" else {})}


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One search in this (worker) process; returns its curve and final numbers."""
    _threads()
    mode, seed, epochs = job["mode"], job["seed"], job["epochs"]
    prepared = prepare(job)
    summary = prepared.run()
    at_limit = _best_at_limit(summary.best_so_far, job["seconds"])
    rows = {r["number"]: r for r in summary.lineage}
    root = next((r for r in rows.values() if r["parent"] is None), None)
    # epoch 0 of every warm child: its val accuracy right after the transform vs its parent's
    starts = [
        (r["val_acc_before"], rows[r["parent"]]["val_acc"])
        for r in rows.values()
        if mode == "net2net" and r["parent"] is not None and r["val_acc_before"] is not None
    ]
    return {
        "mode": mode,
        "seed": seed,
        "epochs": epochs,
        "curve": summary.best_so_far,
        "root_val": None if root is None else root["val_acc"],
        "best_val": summary.best_val_acc,
        "test": summary.test_acc,
        # the best candidate finished by the time limit (the last one may finish after it)
        "best_trial_at_limit": at_limit,
        "test_at_limit": summary.test_acc
        if at_limit in (None, summary.best_trial)
        else _test_acc(prepared, at_limit),
        "root_test": summary.root_test_acc,
        "candidates": summary.counts.get("complete", 0) + summary.counts.get("pruned", 0),
        "pruned": summary.counts.get("pruned", 0),
        "wall": summary.timings["wall_seconds"],
        "overhead": summary.timings["overhead_fraction"],
        "warm_starts": len(starts),
        "exact_warm_starts": sum(before == parent for before, parent in starts),
    }


def _by_limit(curve: list[dict], seconds: float) -> list[dict]:
    """The curve's points of candidates finished by ``seconds``: all that the comparison counts."""
    return [p for p in curve if p["elapsed"] <= seconds]


def _best_at_limit(curve: list[dict], seconds: float) -> int | None:
    """The number of the best candidate that finished by ``seconds`` (None: none did)."""
    best, number = float("-inf"), None
    for p in _by_limit(curve, seconds):  # a point per finished candidate, the best where it rises
        if p["best_val_acc"] > best:
            best, number = p["best_val_acc"], p["number"]
    return number


def trained_model(prepared: Any, number: int) -> Any:
    """A finished candidate of ``prepared``'s study, rebuilt from its checkpoint."""
    from nas.search import Searcher

    searcher = Searcher(prepared.config, prepared.env, prepared.config.study)
    return searcher.model_of(searcher.study.trials[number])


def _test_acc(prepared: Any, number: int) -> float:
    """Test accuracy of a finished candidate of ``prepared``'s study, from its checkpoint."""
    from nas.train import evaluate

    return float(evaluate(trained_model(prepared, number), prepared.env.data.test)[1])


def best_at(curve: list[dict], t: float) -> float | None:
    vals = [p["best_val_acc"] for p in _by_limit(curve, t)]
    return max(vals) if vals else None


def time_to(curve: list[dict], target: float, seconds: float) -> float | None:
    """Seconds until the best-so-far val accuracy reached ``target``, within the time limit."""
    from nas.train import time_to_target

    kept = _by_limit(curve, seconds)
    return time_to_target([p["elapsed"] for p in kept], [p["best_val_acc"] for p in kept], target)


def time_ratio(a: list[float | None], b: list[float | None]) -> float | None:
    """Mean time of ``a`` over mean time of ``b`` to one target, only where every run of both
    reached it (None otherwise)."""
    if not a or not b or None in a or None in b:
        return None
    return statistics.fmean(a) / statistics.fmean(b)


def _stats(values: list[float | None]) -> dict[str, Any]:
    got = [v for v in values if v is not None]
    return {
        "mean": statistics.fmean(got) if got else None,
        "std": statistics.pstdev(got) if len(got) > 1 else 0.0 if got else None,
        "reached": len(got),
        "runs": len(values),
        "values": values,
    }


def _fmt(s: dict[str, Any], fmt: str, unit: str = "") -> str:
    if s["mean"] is None:
        return "never"
    miss = f" ({s['runs'] - s['reached']} never)" if s["reached"] < s["runs"] else ""
    return f"{format(s['mean'], fmt)} ± {format(s['std'], fmt)}{unit}{miss}"


def _run_all(
    jobs: list[dict[str, Any]], workers: int, fn: Callable[[dict], dict] | None = None
) -> list[dict[str, Any]]:
    """``fn`` (default :func:`run_one`) on every job, ``workers`` processes side by side."""
    fn = fn or run_one
    if workers <= 1:
        return [fn(j) for j in jobs]
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(fn, jobs))


def val_targets(runs: list[dict], seconds: float, n_targets: int) -> list[float]:
    """``n_targets`` val accuracies from just above the best seed model to the best any run
    reached by the limit, floored to 4 digits (the top one is reached by at least one run)."""
    roots = [r["root_val"] for r in runs if r["root_val"] is not None]
    top = max(best_at(r["curve"], seconds) or 0.0 for r in runs)
    lo = max(roots) + 0.01 if roots else 0.5
    return sorted(
        {
            math.floor(1e4 * (lo + (top - lo) * i / max(n_targets - 1, 1))) / 1e4
            for i in range(n_targets)
        }
    )


def report(runs: list[dict], chosen: dict[str, int], seconds: float, n_targets: int) -> dict:
    """Targets, per-mode statistics and the markdown table."""
    final = [r for r in runs if r["epochs"] == chosen[r["mode"]]]
    targets = val_targets(final, seconds, n_targets)
    table: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        mine = [r for r in final if r["mode"] == mode]
        table[mode] = {
            "epochs": chosen[mode],
            "time_to": {
                str(t): _stats([time_to(r["curve"], t, seconds) for r in mine]) for t in targets
            },
            "best_val_at_limit": _stats([best_at(r["curve"], seconds) for r in mine]),
            "best_val": _stats([r["best_val"] for r in mine]),
            "test": _stats([r.get("test_at_limit", r["test"]) for r in mine]),
            "candidates": _stats([float(r["candidates"]) for r in mine]),
            "pruned": _stats([float(r["pruned"]) for r in mine]),
            "overhead_pct": _stats([100 * r["overhead"] for r in mine]),
        }
    lines = [
        "| mode | epochs / candidate | "
        + " | ".join(f"time to val {t:.3f}" for t in targets)
        + " | best val at limit | test acc of the best | candidates (pruned) | loop overhead |",
        "|---|---:|" + "---:|" * len(targets) + "---:|---:|---:|---:|",
    ]
    for mode, row in table.items():
        cells = [_fmt(row["time_to"][str(t)], ".0f", " s") for t in targets]
        lines.append(
            f"| {mode} | {row['epochs']} | "
            + " | ".join(cells)
            + f" | {_fmt(row['best_val_at_limit'], '.4f')} | {_fmt(row['test'], '.4f')}"
            + f" | {_fmt(row['candidates'], '.1f')} ({_fmt(row['pruned'], '.1f')})"
            + f" | {_fmt(row['overhead_pct'], '.1f', ' %')} |"
        )
    ratios = []
    for t in targets:
        a, b = table["net2net"]["time_to"][str(t)], table["scratch"]["time_to"][str(t)]
        ratio = time_ratio(a["values"], b["values"])
        if ratio is not None:
            ratios.append({"target": t, "net2net_over_scratch": ratio})
    lines.append(
        "\nTimes and accuracies count only candidates finished by the time limit (no candidate "
        "starts after it; the one running then finishes later and is not counted)."
    )
    if any("test_at_limit" not in r for r in final):
        lines.append(
            "These runs predate that rule for the test accuracy: its column is the test "
            "accuracy of the best candidate of the whole run, the late one included."
        )
    return {"targets": targets, "table": table, "markdown": "\n".join(lines), "ratios": ratios}


def plot(runs: list[dict], chosen: dict[str, int], seconds: float, path: Path) -> None:
    """Best-so-far val accuracy against wall time, every seed, both modes in one picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"net2net": "tab:blue", "scratch": "tab:orange"}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in runs:
        kept = _by_limit(r["curve"], seconds)
        if r["epochs"] != chosen[r["mode"]] or not kept:
            continue
        xs = [p["elapsed"] for p in kept]
        ys = [p["best_val_acc"] for p in kept]
        xs.append(seconds)  # the last level, held to the limit
        ys.append(ys[-1])
        label = f"{r['mode']} ({r['epochs']} epochs/candidate)" if r["seed"] == 0 else None
        ax.step(xs, ys, where="post", color=colors[r["mode"]], alpha=0.8, label=label)
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("best val accuracy so far")
    ax.set_title("Net2Net search vs scratch mode (each line one seed)")
    ax.set_xlim(left=0)
    ax.axvline(seconds, color="grey", linestyle=":", linewidth=1)
    ax.text(seconds, ax.get_ylim()[0], " time limit", color="grey", va="bottom")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _search_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> a SearchConfig field and its JSON value (bare words stay strings)."""
    from dataclasses import fields

    from nas.search import SearchConfig

    key, sep, raw = text.partition("=")
    allowed = {f.name for f in fields(SearchConfig)} - FIXED_BY_SCRIPT
    if not sep or key not in allowed:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(allowed))}"
        )
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def _positive_int(text: str) -> int:
    value = int(text) if text.strip().lstrip("-").isdigit() else 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive whole number")
    return value


def _check_settings(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse settings SearchConfig rejects before anything is written (argparse's exit 2)."""
    from nas.search import SearchConfig, SearchConfigError

    for mode in MODES:
        extra = mode_settings(args.search, args.net2net_search, mode)
        try:
            SearchConfig.from_dict(
                {"pruner": args.pruner, "pruner_warmup": args.pruner_warmup, **extra}
                | {"warm_start": mode == "net2net"}
            )
        except SearchConfigError as err:
            ap.error(f"{mode} mode: {err}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seconds", type=float, default=300.0, help="wall-time budget per search")
    ap.add_argument("--grid", type=int, nargs="+", default=[3, 10], help="epochs per candidate")
    ap.add_argument("--seed-epochs", type=int, default=10, help="the seed model's epochs")
    ap.add_argument("--pruner", default="gain", help="the pruner of both modes")
    ap.add_argument("--pruner-warmup", type=int, default=2)
    ap.add_argument("--targets", type=int, default=5, help="number of val-accuracy targets")
    ap.add_argument("--workers", type=int, default=2, help="searches run side by side")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--quick", action="store_true", help="tiny data and budgets (a smoke run)")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the table and plot from the results.json already in --out",
    )
    ap.add_argument("--model", choices=list(SEEDS), default="cnn1d", help="the seed model")
    ap.add_argument(
        "--samples",
        type=_positive_int,
        default=LARGE["n_samples"],
        help="MNIST-1D examples generated for the task (more: training costs more, bigger "
        "models keep gaining)",
    )
    ap.add_argument(
        "--scheduler-interval",
        choices=["step", "epoch"],
        default="step",
        help="cosine stepped per optimizer step (the library's default) or per epoch (as the "
        "README's earlier tables were measured)",
    )
    ap.add_argument(
        "--set",
        dest="search",
        metavar="KEY=VALUE",
        nargs="+",
        type=_search_setting,
        default=[],
        help="more SearchConfig fields for both modes, VALUE as JSON: --set 'widen_factors=[1.5]'",
    )
    ap.add_argument(
        "--net2net-set",
        dest="net2net_search",
        metavar="KEY=VALUE",
        nargs="+",
        type=_search_setting,
        default=[],
        help="SearchConfig fields for the net2net mode only (on top of --set): what only a "
        'warm start can use, e.g. --net2net-set \'mutations=["widen","deepen","train"]\'',
    )
    args = ap.parse_args()
    if args.report_only:
        if not (args.out / "results.json").is_file():
            ap.error(f"--report-only: no results.json in {args.out}")
        saved = json.loads((args.out / "results.json").read_text())
        write_results(args.out, saved["settings"], saved["chosen"], saved["runs"])
        return
    args.search, args.net2net_search = dict(args.search), dict(args.net2net_search)
    _check_settings(ap, args)
    data = QUICK if args.quick else {**LARGE, "n_samples": args.samples}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nas-svs-") as tmp:
        base = {
            "seconds": args.seconds,
            "seed_epochs": args.seed_epochs,
            "pruner": args.pruner,
            "pruner_warmup": args.pruner_warmup,
            "data": data,
            "work": tmp,
            "model": args.model,
            "interval": args.scheduler_interval,
            "search": args.search,
            "net2net_search": args.net2net_search,
        }
        select = args.seeds[0]
        grid_jobs = [
            {**base, "mode": m, "seed": select, "epochs": e} for e in args.grid for m in MODES
        ]
        runs = _run_all(grid_jobs, args.workers)
        chosen = {
            m: max(
                args.grid,
                key=lambda e, m=m: next(
                    best_at(r["curve"], args.seconds) or 0.0
                    for r in runs
                    if r["mode"] == m and r["epochs"] == e
                ),
            )
            for m in MODES
        }
        print(f"chosen epochs per candidate (seed {select}): {chosen}", flush=True)
        rest = [
            {**base, "mode": m, "seed": s, "epochs": chosen[m]}
            for s in args.seeds[1:]
            for m in MODES
        ]
        runs += _run_all(rest, args.workers)
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "report_only")}
    write_results(args.out, settings | {"data": data}, chosen, runs)


def _settings_text(values: dict[str, Any] | None) -> str:
    """``k=v k2=v2``: settings as the command line gave them, for the table's header."""
    return " ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in (values or {}).items()
    )


def write_results(out: Path, settings: dict, chosen: dict[str, int], runs: list[dict]) -> None:
    """results.json, table.md and curves.png in ``out``; the grid runs come first in ``runs``."""
    seconds, seeds = settings["seconds"], settings["seeds"]
    result = report(runs, chosen, seconds, settings["targets"])
    (out / "results.json").write_text(
        json.dumps({"settings": settings, "chosen": chosen, "runs": runs, **result}, indent=1)
    )
    grid_lines = [
        "| mode | epochs / candidate | best val at limit (selection seed) |",
        "|---|---:|---:|",
    ]
    for r in runs[: len(settings["grid"]) * len(MODES)]:
        grid_lines.append(
            f"| {r['mode']} | {r['epochs']} | {best_at(r['curve'], seconds) or 0:.4f} |"
        )
    model = settings["model"]
    extra = "".join(
        f"; {flag} {text}"
        for flag, text in (
            ("--set", _settings_text(settings.get("search"))),
            ("net2net only: --net2net-set", _settings_text(settings.get("net2net_search"))),
        )
        if text
    )
    samples = settings["data"]["n_samples"]
    md = (
        f"Net2Net search vs scratch, seed model {model} {SEEDS[model][1]}, "
        f"{'' if samples == LARGE['n_samples'] else f'{samples} MNIST-1D examples, '}"
        f"{len(seeds)} seeds, {seconds:.0f} s each "
        f"(mean ± std over seeds){extra}\n\n{result['markdown']}\n\n"
        f"Per-candidate budget grid (seed {seeds[0]}):\n\n" + "\n".join(grid_lines) + "\n"
    )
    (out / "table.md").write_text(md)
    plot(runs, chosen, seconds, out / "curves.png")
    print(md)
    for r in result["ratios"]:
        print(f"time to {r['target']:.3f}: net2net / scratch = {r['net2net_over_scratch']:.2f}")


if __name__ == "__main__":
    main()
