"""Shared code of the Net2Net paper experiments (experiments/paper_*.py): presets, options,
training one arm with its epoch-0 point, time-to-target tables, plots and result files.

Conventions used by every experiment (also stated in experiments/README.md):

* An *arm* is one way of initializing a network, trained once per seed. Its curve has a point at
  epoch 0 (the network before any training: val accuracy from a float64 eval-mode pass, so a
  function-preserving student has *exactly* its teacher's accuracy) and one per epoch after.
* Wall time of a point = seconds of the arm's own ``train()`` call up to the end of that epoch
  (training steps, data loading, the per-epoch val pass) plus the seconds its initialization
  took (the Net2Net transform; 0 for a model built fresh). The teacher's training is not in it:
  it is reported next to it (and counted in the design-space exploration).
* Time to target = the first point whose val accuracy >= target (``nas.train.time_to_target``).
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.data import DataBundle, load
from nas.models import create_model
from nas.train import Budget, evaluate, time_to_target, train

os.environ.setdefault("OMP_NUM_THREADS", "1")

#: Per data set: the model family, its kernel, the teacher (narrow) and wide widths, data options.
PRESETS: dict[str, dict[str, Any]] = {
    "mnist1d": {
        "model": "cnn1d",
        "kernel_size": 5,
        "teacher": [8, 8],
        "wide": [16, 16],
        "data": {"n_samples": 4000},
        "quick_data": {"n_samples": 600},
    },
    "digits": {
        "model": "cnn2d",
        "kernel_size": 3,
        "teacher": [8, 16],
        "wide": [16, 32],
        "data": {"val_fraction": 0.2},
        "quick_data": {"val_fraction": 0.2},
    },
}
SCHEDULES = ("cosine", "constant", "warmup")
WARMUP = 3
RESULTS = Path(__file__).resolve().parent / "results"


def parser(name: str, doc: str, *, epochs: int, teacher_epochs: int) -> argparse.ArgumentParser:
    """The options every experiment shares; ``--quick`` shrinks everything to seconds."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], prog=f"{name}.py")
    p.add_argument("--data", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=epochs, help="student / baseline epochs")
    p.add_argument("--teacher-epochs", type=int, default=teacher_epochs)
    p.add_argument("--lr", type=float, default=0.01, help="teacher and from-scratch AdamW lr")
    p.add_argument("--out", type=Path, default=RESULTS / name, help="output folder")
    p.add_argument("--quick", action="store_true", help="tiny data and budget (seconds)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite tables and plots from the runs.json files already in --out",
    )
    return p


def finish_args(args: argparse.Namespace, p: argparse.ArgumentParser) -> argparse.Namespace:
    """Apply ``--quick`` and reject bad values with one line (exit 2, nothing written)."""
    if args.quick:
        args.epochs, args.teacher_epochs = min(args.epochs, 2), min(args.teacher_epochs, 2)
    for field in ("epochs", "teacher_epochs"):
        if getattr(args, field) < 1:
            p.error(f"--{field.replace('_', '-')} must be >= 1, got {getattr(args, field)}")
    if args.lr <= 0:
        p.error(f"--lr must be > 0, got {args.lr}")
    torch.set_num_threads(1)
    return args


def load_data(name: str, seed: int, quick: bool) -> DataBundle:
    preset = PRESETS[name]
    return load(name, seed=seed, **preset["quick_data" if quick else "data"])


def build(data: DataBundle, widths: Sequence[int], blocks: int = 1, seed: int = 0) -> nn.Module:
    """A freshly initialized model of the data set's family (PyTorch's default init)."""
    preset = PRESETS[data.name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_model(
            preset["model"], input_shape=data.input_shape, num_classes=data.num_classes,
            widths=list(widths), blocks=blocks, kernel_size=preset["kernel_size"],
        )  # fmt: skip


def fresh_copy(model: nn.Module, seed: int) -> nn.Module:
    """The same architecture, every weight freshly initialized (random init of the student)."""
    child = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in child.modules():
            if callable(getattr(m, "reset_parameters", None)):
                m.reset_parameters()
            if callable(getattr(m, "reset_running_stats", None)):
                m.reset_running_stats()
    return child


def example(data: DataBundle) -> torch.Tensor:
    return next(iter(data.val))[0][:8]


def accuracy64(model: nn.Module, loader: Any) -> float:
    """Val accuracy of a float64 eval-mode copy (a Net2Net child matches its parent to ~1e-12)."""
    m = copy.deepcopy(model).double().eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((m(x.double()).argmax(1) == y).sum())
            total += len(y)
    return correct / total


def timed(fn: Callable[[], nn.Module]) -> tuple[nn.Module, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def optimizer(lr: float) -> Callable:
    return functools.partial(torch.optim.AdamW, lr=lr, weight_decay=0.01)


def fit(
    model: nn.Module,
    data: DataBundle,
    *,
    lr: float,
    epochs: int,
    seed: int,
    init_seconds: float = 0.0,
    schedule: str = "cosine",
) -> dict[str, Any]:
    """Train ``model`` in place: AdamW, wd 0.01, per-epoch ``schedule`` over ``epochs``
    (``cosine`` from ``lr``; ``constant``; ``warmup``: linear from lr/10 for WARMUP epochs, then
    cosine).

    Returns the arm's record: ``epoch``, ``val_acc``, ``seconds`` (with the epoch-0 point),
    ``train_loss``, the final ``test_acc`` and the ``lr``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"fit: schedule must be one of {SCHEDULES}, got {schedule!r}")
    acc0 = accuracy64(model, data.val)

    def sched(opt: torch.optim.Optimizer) -> Any:
        if schedule == "warmup":  # linear from lr/10 over WARMUP epochs, then cosine
            w = min(WARMUP, epochs - 1)
            return torch.optim.lr_scheduler.SequentialLR(opt, [
                torch.optim.lr_scheduler.LinearLR(opt, 0.1, 1.0, total_iters=max(w, 1)),
                torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs - w, 1)),
            ], milestones=[max(w, 1)])  # fmt: skip
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)

    result = train(
        model, data, optimizer=optimizer(lr), budget=Budget(epochs=epochs), seed=seed,
        scheduler=sched if schedule == "cosine" else None, progress=False,
    )  # fmt: skip
    if result.status != "completed":
        raise RuntimeError(f"fit: {result.message}")
    _, test_acc = evaluate(model, data.test)
    return {
        "lr": lr,
        "epoch": [0] + [r.epoch for r in result.curve],
        "val_acc": [acc0] + [r.val_acc for r in result.curve],
        "seconds": [init_seconds] + [init_seconds + r.seconds for r in result.curve],
        "train_loss": [None] + [r.train_loss for r in result.curve],
        "test_acc": test_acc,
        "final_val_acc": result.curve[-1].val_acc,
    }


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


def collect(
    args: argparse.Namespace, data_name: str, one_seed: Callable[[DataBundle, int], dict]
) -> tuple[dict[str, list[dict]], list[dict], int]:
    """Run ``one_seed(data, seed) -> {"teacher": run, "arms": {arm: run}}`` for every seed.

    Returns the arms (arm -> one run per seed), the teacher runs and the val set size.
    """
    if args.report_only:
        runs = json.loads((Path(args.out) / data_name / "runs.json").read_text())
        summary = json.loads((Path(args.out) / data_name / "summary.json").read_text())
        args.seeds = summary["seeds"]
        return runs["arms"], runs["teacher"], summary["val_size"]
    arms: dict[str, list[dict]] = {}
    teachers = []
    for seed in args.seeds:
        data = load_data(data_name, seed, args.quick)
        t0 = time.perf_counter()
        out = one_seed(data, seed)
        teachers.append(out["teacher"])
        for name, run in out["arms"].items():
            arms.setdefault(name, []).append(run)
        print(f"{data_name} seed {seed}: {time.perf_counter() - t0:.1f} s; final val "
              + ", ".join(f"{k} {v['final_val_acc']:.3f}" for k, v in out["arms"].items()),
              flush=True)  # fmt: skip
    return arms, teachers, len(data.val.dataset)


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


def epoch0_check(arms: dict[str, list[dict]], teachers: list[dict], exact: Sequence[str]) -> dict:
    """Per function-preserving arm: epoch-0 val acc of every seed == its teacher's (float64)."""
    teacher64 = [t["val_acc64"] for t in teachers]
    return {
        "teacher_val_acc64": teacher64,
        "epoch0_equals_teacher": {
            arm: all(r["val_acc"][0] == t for r, t in zip(arms[arm], teacher64, strict=True))
            for arm in exact
        },
    }
