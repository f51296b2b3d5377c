"""Design-space exploration: grow a small seed step by step vs train every step from scratch.

The seed model (the preset's teacher) trains ``--teacher-epochs``. Each step then widens every
width group x2 or inserts an identity block after the last stage (``--steps``), warm-started from
the previous model and trained ``--step-epochs`` at ``--student-lr-ratio`` x lr. The baselines
train each of those architectures from random init: ``--epochs`` (a full budget) and
``--step-epochs`` (the warm step's budget). Cumulative time counts every model a mode trained,
the seed included (it is the same run in every mode).

    python experiments/paper_explore.py                     # 5 seeds, mnist1d and digits
    python experiments/paper_explore.py --quick --seeds 0   # seconds
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import paper_common as pc
import paper_report as rep

from nas import net2net

NAME = "paper_explore"
WARM = "Net2Net (warm steps)"
SCRATCH = "scratch, full budget each"


def grow(model, data, step: str, seed: int, noise: float, split: str = "uneven",
         init: str = "net2net"):  # fmt: skip
    x = pc.example(data)
    if step == "widen":
        for g in net2net.width_groups(model, x):
            model = net2net.widen(model, g.name, 2 * g.width, example_input=x, seed=seed,
                                  noise=noise, split=split, init=init)  # fmt: skip
        return model
    last = net2net.depth_points(model, x)[-1]
    return net2net.deepen(model, last.name, example_input=x, data=[next(iter(data.train))],
                          seed=seed, noise=noise,
                          kernel_size=pc.PRESETS[data.name]["kernel_size"])  # fmt: skip


def describe(model) -> dict:
    convs = [m.out_channels for m in model.modules() if hasattr(m, "out_channels")]
    return {"params": sum(p.numel() for p in model.parameters()), "conv_widths": convs}


def old_archs(args, data_name: str) -> list:
    """The architectures a previous run recorded (``--report-only``)."""
    return json.loads((Path(args.out) / data_name / "summary.json").read_text())["architectures"]


def chain(runs: list[dict]) -> dict:
    """Concatenate one mode's runs: cumulative epochs and seconds, best-so-far val acc."""
    out = {"epoch": [], "seconds": [], "val_acc": [], "current_val_acc": [], "arch": [],
           "train_loss": []}  # fmt: skip
    ep = sec = 0.0
    best = 0.0
    for i, r in enumerate(runs):
        for j in range(len(r["epoch"])):
            if j == 0 and i > 0 and r["seconds"][0] == 0.0:
                continue  # a from-scratch model's untrained point adds nothing
            best = max(best, r["val_acc"][j])
            out["epoch"].append(ep + r["epoch"][j])
            out["seconds"].append(sec + r["seconds"][j])
            out["val_acc"].append(best)
            out["current_val_acc"].append(r["val_acc"][j])
            out["arch"].append(i)
            out["train_loss"].append(r["train_loss"][j])
        ep, sec = out["epoch"][-1], out["seconds"][-1]
    out["final_val_acc"] = runs[-1]["final_val_acc"]
    out["test_acc"] = runs[-1]["test_acc"]
    out["per_arch"] = [{k: r[k] for k in ("final_val_acc", "test_acc")} for r in runs]
    return out


def one_seed(args, data, seed) -> dict:
    preset = pc.PRESETS[data.name]
    model = pc.build(data, preset["teacher"], seed=seed)
    seed_run = pc.fit(model, data, lr=args.lr, epochs=args.teacher_epochs, seed=seed)
    seed_run["val_acc64"] = pc.accuracy64(model, data.val)
    grow(model, data, "widen", seed, 0.0)  # warm-up: the first fx trace imports dynamo
    warm, full, short = [seed_run], [seed_run], [seed_run]
    archs = [describe(model)]
    slr = args.lr * args.student_lr_ratio
    for k, step in enumerate(args.steps):
        parent_acc = pc.accuracy64(model, data.val)
        model, secs = pc.timed(
            lambda m=model, s=step, k=k: grow(
                m, data, s, seed + k, args.noise, args.split, args.init
            )
        )
        if args.noise == 0:
            acc0 = pc.accuracy64(model, data.val)
            assert acc0 == parent_acc, f"step {k} {step}: epoch-0 val acc {acc0} != {parent_acc}"
        warm.append(pc.fit(model, data, lr=slr, epochs=args.step_epochs, seed=seed,
                           init_seconds=secs))  # fmt: skip
        for runs, epochs in ((full, args.epochs), (short, args.step_epochs)):
            scratch = pc.fresh_copy(model, seed=10_000 + 100 * seed + k)
            runs.append(pc.fit(scratch, data, lr=args.lr, epochs=epochs, seed=seed))
        archs.append(describe(model))
    arms = {
        WARM: chain(warm),
        SCRATCH: chain(full),
        f"scratch, {args.step_epochs} epochs each": chain(short),
    }
    return {"teacher": seed_run, "arms": arms, "archs": archs}


def main(argv: Sequence[str] | None = None) -> None:
    p = pc.parser(NAME, __doc__, epochs=30, teacher_epochs=30)
    p.add_argument("--steps", nargs="+", default=["widen", "deepen", "widen", "deepen"],
                   choices=["widen", "deepen"])  # fmt: skip
    p.add_argument("--step-epochs", type=int, default=10)
    p.add_argument("--student-lr-ratio", type=float, default=1.0)
    p.add_argument("--noise", type=float, default=0.0)
    pc.add_widening_args(p)
    args = pc.finish_args(p.parse_args(argv), p)
    if args.quick:
        args.step_epochs = min(args.step_epochs, 1)
    if args.step_epochs < 1:
        p.error(f"--step-epochs must be >= 1, got {args.step_epochs}")
    parts = []
    for data_name in args.data:
        archs = []

        def run(d, s, archs=archs):
            out = one_seed(args, d, s)
            archs.append(out["archs"])
            return out

        arms, teachers, val_size = pc.collect(args, data_name, run)
        per_arch = {a: [r["per_arch"] for r in runs] for a, runs in arms.items()}
        extra = {"steps": args.steps, "step_epochs": args.step_epochs,
                 "architectures": archs[0] if archs else old_archs(args, data_name),
                 "per_architecture": per_arch}  # fmt: skip
        note = "the seed model; counted in every mode's time"
        md = rep.report(NAME, args, data_name, arms, teachers, val_size, SCRATCH, extra, note)
        rows = []
        for i, arch in enumerate(["seed", *args.steps]):
            rows.append([f"{i}: {arch}"] + [
                rep.fmt([pa[i]["test_acc"] for pa in per_arch[a]], ".4f") for a in arms
            ])  # fmt: skip
        parts.append(md + "final test acc of each architecture:\n\n"
                     + rep.md_table(["architecture", *arms], rows) + "\n")  # fmt: skip
    intro = (
        f"Steps {args.steps} (widen: every group x2, {pc.widening(args)}): each warm step trains {args.step_epochs} epochs at lr {args.lr} x "
        f"{args.student_lr_ratio}; scratch at lr {args.lr}. Curves: best val accuracy so far "
        "against cumulative epochs / seconds of all models trained (the seed included). "
        f"'{SCRATCH}' = {args.epochs} epochs per architecture. Speed-up = scratch time / "
        "the mode's time (> 1x: faster than scratch with a full budget)."
    )
    print(rep.write_table(NAME, args, argv if argv is not None else sys.argv[1:], parts, intro))


if __name__ == "__main__":
    main()
