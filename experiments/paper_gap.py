"""The warm-start generalization gap (Ash & Adams 2020) and what closes it.

A trained teacher is widened (every group x2) and each student variant trains exactly as long
as random init of the wide architecture (``--epochs``): equal training of the wide network.
The gap is random init's final test (and val) accuracy minus the variant's. Variants: the
paper's recipe (lr x 0.1), the teacher's lr and 3x it, noise, the uneven split,
shrink-and-perturb (``nas.net2net.shrink_perturb``), a constant schedule, a warm-up, and new
units that are fresh and silent (``init="zero_out"``) instead of copies. Random
init at 3x the lr is a second reference (the gap is measured against random init at 1x).

    python experiments/paper_gap.py                     # 5 seeds, mnist1d and digits
    python experiments/paper_gap.py --quick --seeds 0   # seconds
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import paper_common as pc
import paper_report as rep
from paper_wider import widen_all

from nas import net2net

NAME = "paper_gap"
BASELINE = "random init"


def variants(args) -> dict[str, dict]:
    """name -> widen kwargs, lr ratio, schedule, shrink-and-perturb (shrink, perturb) or None."""
    sp = (args.shrink, args.perturb)
    v = {
        "Net2WiderNet, lr x 0.1": {"ratio": 0.1},
        "Net2WiderNet, lr x 1": {"ratio": 1.0},
        f"+ noise {args.noise}, lr x 1": {"ratio": 1.0, "widen": {"noise": args.noise}},
        "uneven split, lr x 1": {"ratio": 1.0, "widen": {"split": "uneven"}},
        f"shrink-perturb {sp[0]}/{sp[1]}, lr x 0.1": {"ratio": 0.1, "sp": sp},
        f"shrink-perturb {sp[0]}/{sp[1]}, lr x 1": {"ratio": 1.0, "sp": sp},
        "Net2WiderNet, lr x 1 constant": {"ratio": 1.0, "schedule": "constant"},
        "uneven split, lr x 3": {"ratio": 3.0, "widen": {"split": "uneven"}},
        "uneven split, lr x 1 warm-up": {
            "ratio": 1.0,
            "widen": {"split": "uneven"},
            "schedule": "warmup",
        },
        "zero-out, lr x 1": {"ratio": 1.0, "widen": {"init": "zero_out"}},
        "zero-out, lr x 3": {"ratio": 3.0, "widen": {"init": "zero_out"}},
    }
    return {k: v[k] for k in list(v)[:3]} if args.quick else v


def one_seed(args, data, seed) -> dict:
    preset = pc.PRESETS[data.name]
    teacher = pc.build(data, preset["teacher"], seed=seed)
    t_run = pc.fit(teacher, data, lr=args.lr, epochs=args.teacher_epochs, seed=seed)
    t_acc64 = t_run["val_acc64"] = pc.accuracy64(teacher, data.val)
    widen_all(teacher, data, preset["wide"], seed)  # warm-up: the first fx trace imports dynamo
    arms = {}
    for name, v in variants(args).items():

        def init(v=v):
            s = widen_all(teacher, data, preset["wide"], seed, **v.get("widen", {}))
            if v.get("sp"):
                s = net2net.shrink_perturb(s, *v["sp"], seed=seed)
            return s

        student, secs = pc.timed(init)
        if not v.get("sp") and not v.get("widen", {}).get("noise"):
            acc0 = pc.accuracy64(student, data.val)
            assert acc0 == t_acc64, f"{name}: epoch-0 val acc {acc0} != teacher's {t_acc64}"
        arms[name] = pc.fit(student, data, lr=args.lr * v["ratio"], epochs=args.epochs,
                            seed=seed, init_seconds=secs,
                            schedule=v.get("schedule", "cosine"))  # fmt: skip
    arch = widen_all(teacher, data, preset["wide"], seed)
    for name, ratio in ((BASELINE, 1.0), ("random init, lr x 3", 3.0))[: 1 if args.quick else 2]:
        scratch = pc.fresh_copy(arch, seed=10_000 + seed)
        arms[name] = pc.fit(scratch, data, lr=args.lr * ratio, epochs=args.epochs, seed=seed)
    return {"teacher": t_run, "arms": arms}


def gap_rows(arms: dict[str, list[dict]]) -> tuple[list[list[str]], dict]:
    base_test = [r["test_acc"] for r in arms[BASELINE]]
    base_val = [r["final_val_acc"] for r in arms[BASELINE]]
    rows, data = [], {}
    for name, runs in arms.items():
        if name == BASELINE:
            continue
        gt = [b - r["test_acc"] for b, r in zip(base_test, runs, strict=True)]
        gv = [b - r["final_val_acc"] for b, r in zip(base_val, runs, strict=True)]
        data[name] = {"test_gap": gt, "val_gap": gv}
        rows.append([name, rep.fmt(gt, "+.4f"), rep.fmt(gv, "+.4f")])
    return rows, data


def main(argv: Sequence[str] | None = None) -> None:
    p = pc.parser(NAME, __doc__, epochs=30, teacher_epochs=30)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--shrink", type=float, default=0.5)
    p.add_argument("--perturb", type=float, default=0.1)
    args = pc.finish_args(p.parse_args(argv), p)
    parts = []
    for data_name in args.data:
        arms, teachers, val_size = pc.collect(args, data_name, lambda d, s: one_seed(args, d, s))
        exact = [a for a in arms if a.startswith(("Net2WiderNet", "uneven", "zero-out"))]
        rows, gaps = gap_rows(arms)
        extra = {**pc.epoch0_check(arms, teachers, exact), "gap": gaps}
        md = rep.report(NAME, args, data_name, arms, teachers, val_size, BASELINE, extra)
        heads = ["variant", "test gap (random init - variant)", "final val gap"]
        parts.append(md + "gap at equal training (> 0: the warm start ends worse):\n\n"
                     + rep.md_table(heads, rows) + "\n")  # fmt: skip
    intro = (
        f"Every arm trains {args.epochs} epochs of the wide network (teacher widths x2); random "
        f"init at lr {args.lr}. shrink-perturb s/p: weights <- s * w + p * (fresh init)."
    )
    print(rep.write_table(NAME, args, argv if argv is not None else sys.argv[1:], parts, intro))


if __name__ == "__main__":
    main()
