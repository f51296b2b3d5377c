"""Tables, plots and result files of the Net2Net paper experiments (experiments/paper_*.py).

Reads the runs that ``paper_common.collect`` returns (arm -> one run per seed; a run is
``{"epoch": [...], "seconds": [...], "val_acc": [...], ...}`` with the epoch-0 point first) and
writes ``summary.json``, ``runs.json``, ``curves.csv``, two plots and the markdown tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas.train import time_to_target

# ---------------------------------------------------------------- aggregation and tables


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def fmt(values: Sequence[float | None], spec: str = ".1f", n: int | None = None) -> str:
    """``mean ± sd`` of the values that exist, with ``(k/n)`` when some runs never got there."""
    got = [v for v in values if v is not None]
    n = len(values) if n is None else n
    if not got:
        return f"never (0/{n})"
    m, s = mean_sd(got)
    tail = f" ({len(got)}/{n})" if len(got) < n else ""
    return f"{m:{spec}} ± {s:{spec.lstrip('+')}}{tail}"


def mean_curve(runs: Sequence[dict], key: str = "val_acc") -> list[float]:
    n = min(len(r[key]) for r in runs)
    return [statistics.fmean(r[key][i] for r in runs) for i in range(n)]


def choose_targets(teacher_accs: Sequence[float], arms: dict[str, list[dict]], val_size: int,
                   count: int = 4) -> list[float]:  # fmt: skip
    """``count`` targets from one val example above the mean teacher to the best mean curve."""
    lo = statistics.fmean(teacher_accs) + 1.0 / val_size
    hi = max(max(mean_curve(runs)) for runs in arms.values())
    if hi <= lo:
        return [round(lo, 4)]
    return [round(lo + (hi - lo) * i / (count - 1), 4) for i in range(count)]


def reach(run: dict, target: float, x: str) -> float | None:
    return time_to_target(run[x], run["val_acc"], target)


def speedup(base: Sequence[float | None], arm: Sequence[float | None]) -> float | None:
    """mean(baseline) / mean(arm) over the seeds where both reached the target; None unless
    those are a majority of the seeds (a ratio over the one easy seed says little)."""
    pairs = [(b, a) for b, a in zip(base, arm, strict=True) if b is not None and a is not None]
    if 2 * len(pairs) <= len(base):
        return None
    mb, ma = statistics.fmean(p[0] for p in pairs), statistics.fmean(p[1] for p in pairs)
    return mb / ma if ma > 0 else float("inf")


def speed_rows(arms: dict[str, list[dict]], baseline: str, targets: Sequence[float]) -> list[dict]:
    """Per arm and target: epochs and seconds to reach it (per seed) and the speed-up."""
    rows = []
    for name, runs in arms.items():
        for t in targets:
            ep = [reach(r, t, "epoch") for r in runs]
            sec = [reach(r, t, "seconds") for r in runs]
            bep = [reach(r, t, "epoch") for r in arms[baseline]]
            bsec = [reach(r, t, "seconds") for r in arms[baseline]]
            rows.append({
                "arm": name, "target": t, "epochs": ep, "seconds": sec,
                "speedup_epochs": speedup(bep, ep), "speedup_seconds": speedup(bsec, sec),
            })  # fmt: skip
    return rows


def final_rows(arms: dict[str, list[dict]]) -> list[dict]:
    return [
        {
            "arm": name,
            "epoch0_val_acc": [r["val_acc"][0] for r in runs],
            "final_val_acc": [r["final_val_acc"] for r in runs],
            "best_val_acc": [max(r["val_acc"]) for r in runs],
            "test_acc": [r["test_acc"] for r in runs],
            "seconds": [r["seconds"][-1] for r in runs],
        }
        for name, runs in arms.items()
    ]


def x_fmt(v: float | None) -> str:
    return "n/a" if v is None else ("inf" if v == float("inf") else f"{v:.1f}x")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def speed_markdown(rows: Sequence[dict], baseline: str, x: str = "epochs") -> str:
    """Arms x targets; a cell is ``mean ± sd`` of the ``x`` to reach it and the speed-up."""
    targets = sorted({r["target"] for r in rows})
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    cell = {(r["arm"], r["target"]): r for r in rows}
    spec = ".1f" if x == "epochs" else ".2f"

    def show(r: dict) -> str:
        up = "" if r["arm"] == baseline else f" ({x_fmt(r['speedup_' + x])})"
        return fmt(r[x], spec) + up

    heads = [f"{x} to val acc >=", *(f"{t:.4f}" for t in targets)]
    return md_table(heads, [[a, *(show(cell[a, t]) for t in targets)] for a in arms])


def final_markdown(rows: Sequence[dict]) -> str:
    body = [
        [r["arm"], fmt(r["epoch0_val_acc"], ".4f"), fmt(r["best_val_acc"], ".4f"),
         fmt(r["final_val_acc"], ".4f"), fmt(r["test_acc"], ".4f"), fmt(r["seconds"], ".1f")]
        for r in rows
    ]  # fmt: skip
    heads = ["arm", "val acc at epoch 0", "best val acc", "final val acc", "final test acc",
             "wall s"]  # fmt: skip
    return md_table(heads, body)


# ---------------------------------------------------------------- files and plots


def plot(arms: dict[str, list[dict]], x: str, path: Path, title: str, xlabel: str,
         hlines: dict[str, float] | None = None) -> None:  # fmt: skip
    """Mean val accuracy of each arm against ``x`` (mean x over seeds), min..max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lows = []
    for name, runs in arms.items():
        xs, ys = mean_curve(runs, x), mean_curve(runs)
        n = len(ys)
        lo = [min(r["val_acc"][i] for r in runs) for i in range(n)]
        hi = [max(r["val_acc"][i] for r in runs) for i in range(n)]
        (line,) = ax.plot(xs, ys, label=name, marker="." if n < 40 else None)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
        lows.append(sorted(ys)[len(ys) // 4])
    for label, y in (hlines or {}).items():
        ax.axhline(y, color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (0, y), fontsize=7, color="grey", va="bottom")
    ax.set_ylim(bottom=max(0.0, min(lows) - 0.05))
    ax.set(xlabel=xlabel, ylabel="val accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_curves_csv(arms: dict[str, list[dict]], seeds: Sequence[int], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arm", "seed", "epoch", "seconds", "val_acc", "train_loss"])
        for name, runs in arms.items():
            for seed, r in zip(seeds, runs, strict=True):
                for i, ep in enumerate(r["epoch"]):
                    w.writerow([name, seed, ep, f"{r['seconds'][i]:.4f}", r["val_acc"][i],
                                r["train_loss"][i]])  # fmt: skip


def write_json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")


def out_dir(args: argparse.Namespace, data: str) -> Path:
    d = Path(args.out) / data
    d.mkdir(parents=True, exist_ok=True)
    return d


def header(name: str, args: argparse.Namespace, argv: Sequence[str] | None) -> str:
    cmd = " ".join(["python", f"experiments/{name}.py", *(argv or [])])
    return (
        f"<!-- written by experiments/{name}.py -->\n`{cmd}`\n\n"
        f"seeds {args.seeds}, {args.epochs} epochs a student / baseline, teacher "
        f"{args.teacher_epochs} epochs, AdamW (wd 0.01) lr {args.lr} cosine for the teacher; "
        "val accuracy mean ± sd over seeds; `(k/n)`: only k of n seeds reached it; speed-up "
        "(in brackets) = mean baseline time / mean arm time over the seeds where both reached "
        "the target, n/a unless that is a majority of the seeds.\n\n"
    )


def report(
    name: str, args: argparse.Namespace, data_name: str, arms: dict[str, list[dict]],
    teachers: list[dict], val_size: int, baseline: str, extra: dict | None = None,
    teacher_note: str = "not in the students' times",
) -> str:  # fmt: skip
    """Write runs.json, curves.csv, summary.json and the two plots; return the markdown part."""
    d = out_dir(args, data_name)
    teacher_acc = [t["final_val_acc"] for t in teachers]
    targets = choose_targets(teacher_acc, arms, val_size)
    speed = speed_rows(arms, baseline, targets)
    final = final_rows(arms)
    teacher_s = [t["seconds"][-1] for t in teachers]
    summary = {
        "experiment": name, "data": data_name, "seeds": args.seeds, "epochs": args.epochs,
        "teacher_epochs": args.teacher_epochs, "lr": args.lr, "val_size": val_size,
        "teacher_val_acc": teacher_acc, "teacher_test_acc": [t["test_acc"] for t in teachers],
        "teacher_seconds": teacher_s, "targets": targets, "baseline": baseline,
        "time_to_target": speed, "final": final, **(extra or {}),
    }  # fmt: skip
    write_json(summary, d / "summary.json")
    write_json({"teacher": teachers, "arms": arms}, d / "runs.json")
    write_curves_csv(arms, args.seeds, d / "curves.csv")
    lines = {f"teacher {mean_sd(teacher_acc)[0]:.3f}": mean_sd(teacher_acc)[0]}
    title = f"{name} on {data_name} ({len(args.seeds)} seeds: mean, min..max band)"
    plot(arms, "epoch", d / "acc_vs_epoch.png", title, "student epochs", lines)
    plot(arms, "seconds", d / "acc_vs_time.png", title, "student wall time (s)", lines)
    return (
        f"### {data_name}\n\nteacher: val {fmt(teacher_acc, '.4f')}, test "
        f"{fmt([t['test_acc'] for t in teachers], '.4f')}, trained in {fmt(teacher_s, '.1f')} s "
        f"({teacher_note}); val set {val_size} examples\n\n"
        f"{final_markdown(final)}\n{speed_markdown(speed, baseline)}\n"
        f"{speed_markdown(speed, baseline, 'seconds')}\n"
        f"![val acc vs epochs]({data_name}/acc_vs_epoch.png) "
        f"![val acc vs wall time]({data_name}/acc_vs_time.png)\n\n"
    )


def write_table(name: str, args: argparse.Namespace, argv: Sequence[str] | None,
                parts: Sequence[str], intro: str) -> Path:  # fmt: skip
    argv = [a for a in (argv or []) if a != "--report-only"]
    path = Path(args.out) / "table.md"
    path.write_text(f"## {name}\n\n{intro}\n\n{header(name, args, argv)}" + "".join(parts))
    return path
