"""The student's learning rate: the paper's ~1/10 of the teacher's, and a small sweep.

A trained teacher is widened (every group x2, Net2WiderNet with ``--split``, ``--noise``, or with
fresh silent new units: ``--init zero_out``) and the student
trains at ``--ratios`` x the teacher's lr. Random init of the wide architecture gets the same
kind of sweep (``--scratch-ratios``), so the baseline is shown at its best too; speed-ups are
relative to random init at the teacher's lr (ratio 1).

    python experiments/paper_lr.py                     # 5 seeds, mnist1d and digits
    python experiments/paper_lr.py --quick --seeds 0   # seconds
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import paper_common as pc
import paper_report as rep
from paper_wider import widen_all

NAME = "paper_lr"
BASELINE = "random init, lr x 1"


def one_seed(args, data, seed) -> dict:
    preset = pc.PRESETS[data.name]
    teacher = pc.build(data, preset["teacher"], seed=seed)
    t_run = pc.fit(teacher, data, lr=args.lr, epochs=args.teacher_epochs, seed=seed)
    t_acc64 = t_run["val_acc64"] = pc.accuracy64(teacher, data.val)
    widen_all(teacher, data, preset["wide"], seed)  # warm-up: the first fx trace imports dynamo
    arms = {}
    for r in args.ratios:
        student, secs = pc.timed(
            lambda: widen_all(
                teacher,
                data,
                preset["wide"],
                seed,
                noise=args.noise,
                split=args.split,
                init=args.init,
            )
        )
        if args.noise == 0:
            acc0 = pc.accuracy64(student, data.val)
            assert acc0 == t_acc64, f"lr x {r}: epoch-0 val acc {acc0} != teacher's {t_acc64}"
        arms[f"Net2WiderNet, lr x {r:g}"] = pc.fit(
            student, data, lr=args.lr * r, epochs=args.epochs, seed=seed, init_seconds=secs
        )
    arch = widen_all(teacher, data, preset["wide"], seed)
    for r in args.scratch_ratios:
        scratch = pc.fresh_copy(arch, seed=10_000 + seed)
        arms[f"random init, lr x {r:g}"] = pc.fit(
            scratch, data, lr=args.lr * r, epochs=args.epochs, seed=seed
        )
    return {"teacher": t_run, "arms": arms}


def main(argv: Sequence[str] | None = None) -> None:
    p = pc.parser(NAME, __doc__, epochs=30, teacher_epochs=30)
    p.add_argument("--ratios", nargs="+", type=float, default=[0.03, 0.1, 0.3, 1.0, 3.0])
    p.add_argument("--scratch-ratios", nargs="+", type=float, default=[0.3, 1.0, 3.0])
    p.add_argument("--noise", type=float, default=0.0)
    pc.add_widening_args(p)
    args = pc.finish_args(p.parse_args(argv), p)
    if 1.0 not in args.scratch_ratios:
        p.error("--scratch-ratios must include 1 (the baseline of the speed-ups)")
    if args.quick:
        args.ratios, args.scratch_ratios = args.ratios[-2:], [1.0]
    parts = []
    for data_name in args.data:
        arms, teachers, val_size = pc.collect(args, data_name, lambda d, s: one_seed(args, d, s))
        exact = [a for a in arms if a.startswith("Net2WiderNet")] if args.noise == 0 else []
        check = pc.epoch0_check(arms, teachers, exact)
        parts.append(rep.report(NAME, args, data_name, arms, teachers, val_size, BASELINE, check))
    intro = (
        f"Net2WiderNet (every group x2, {pc.widening(args)}, noise {args.noise}) students at lr {args.lr} x "
        f"{args.ratios}; random init of the wide net at lr {args.lr} x {args.scratch_ratios}."
    )
    print(rep.write_table(NAME, args, argv if argv is not None else sys.argv[1:], parts, intro))


if __name__ == "__main__":
    main()
