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
import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.data import DataBundle, load
from nas.models import create_model
from nas.train import Budget, evaluate, train

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
    if getattr(args, "init", "net2net") == "zero_out" and getattr(args, "noise", 0):
        p.error("--noise perturbs copied units; --init zero_out makes none (use --noise 0)")
    torch.set_num_threads(1)
    return args


def add_widening_args(p: argparse.ArgumentParser) -> None:
    """``--split`` and ``--init``: how a widened student's new units start."""
    p.add_argument("--split", choices=["even", "uneven"], default="uneven")
    p.add_argument(
        "--init",
        choices=["net2net", "zero_out"],
        default="net2net",
        help="zero_out: new units fresh, outgoing weights zero (--split does not apply)",
    )


def widening(args: argparse.Namespace) -> str:
    """The ``add_widening_args`` choice in words, for a table's intro."""
    if args.init == "zero_out":
        return "zero-out: new units fresh, outgoing weights zero"
    return f"{args.split} split"


def preset_widths(name: str, scale: int = 1) -> tuple[list[int], list[int]]:
    """The preset's teacher and wide widths, every width times ``scale``."""
    preset = PRESETS[name]
    return [w * scale for w in preset["teacher"]], [w * scale for w in preset["wide"]]


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
    ``train_loss``, the final ``test_acc``, the ``lr`` and the model's ``params``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"fit: schedule must be one of {SCHEDULES}, got {schedule!r}")
    acc0 = accuracy64(model, data.val)

    def sched(opt: torch.optim.Optimizer, length: int) -> Any:  # length == epochs: per epoch
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
        "params": sum(p.numel() for p in model.parameters()),
    }


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
