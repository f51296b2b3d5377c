"""Net2WiderNet vs random init of the wide architecture (Chen et al. 2016, section 4.1).

A narrow teacher is trained, then widened (every width group x2) five ways: Net2WiderNet
(exact), with noise on the copied units, with the exact uneven split, zero-out (new units
fresh, outgoing weights zero: exact) and random pad (new units random). The same wide
architecture trained from random init is the baseline. Every arm trains with the same budget;
students at ``--student-lr-ratio`` x the teacher's lr, random init at the teacher's lr.

    python experiments/paper_wider.py                     # 5 seeds, mnist1d and digits
    python experiments/paper_wider.py --quick --seeds 0   # seconds
    python experiments/paper_wider.py --width-scale 4     # a teacher 4x as wide: [32, 32]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import paper_common as pc
import paper_report as rep

from nas import net2net

NAME = "paper_wider"
BASELINE = "random init"
EXACT = ["Net2WiderNet", "Net2WiderNet uneven split", "Net2WiderNet zero-out"]


def widen_all(teacher, data, widths, seed, **kw):
    x = pc.example(data)
    model = teacher
    for group, width in zip(net2net.width_groups(teacher, x), widths, strict=True):
        model = net2net.widen(model, group.name, width, example_input=x, seed=seed, **kw)
    return model


def one_seed(args, data, seed) -> dict:
    teacher_widths, wide = pc.preset_widths(data.name, args.width_scale)
    teacher = pc.build(data, teacher_widths, seed=seed)
    t_run = pc.fit(teacher, data, lr=args.lr, epochs=args.teacher_epochs, seed=seed)
    t_acc64 = t_run["val_acc64"] = pc.accuracy64(teacher, data.val)
    slr = args.lr * args.student_lr_ratio
    widen_all(teacher, data, wide, seed)  # warm-up: first fx trace imports dynamo
    variants = {
        "Net2WiderNet": {},
        f"Net2WiderNet + noise {args.noise}": {"noise": args.noise},
        "Net2WiderNet uneven split": {"split": "uneven"},
        "Net2WiderNet zero-out": {"init": "zero_out"},
        "random pad": {"init": "random_pad"},
    }
    arms = {}
    for name, kw in variants.items():
        student, secs = pc.timed(lambda kw=kw: widen_all(teacher, data, wide, seed, **kw))
        if not kw.get("noise") and kw.get("init") in (None, "zero_out"):
            acc0 = pc.accuracy64(student, data.val)
            assert acc0 == t_acc64, f"{name}: epoch-0 val acc {acc0} != teacher's {t_acc64}"
        arms[name] = pc.fit(student, data, lr=slr, epochs=args.epochs, seed=seed,
                            init_seconds=secs)  # fmt: skip
    scratch = pc.fresh_copy(widen_all(teacher, data, wide, seed), seed=10_000 + seed)
    arms[BASELINE] = pc.fit(scratch, data, lr=args.lr, epochs=args.epochs, seed=seed)
    return {"teacher": t_run, "arms": arms}


def main(argv: Sequence[str] | None = None) -> None:
    p = pc.parser(NAME, __doc__, epochs=30, teacher_epochs=30)
    p.add_argument("--student-lr-ratio", type=float, default=0.1)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument(
        "--width-scale",
        type=int,
        default=1,
        help="teacher and wide widths x this (a teacher closer to what the wide net reaches)",
    )
    args = pc.finish_args(p.parse_args(argv), p)
    if args.width_scale < 1:
        p.error(f"--width-scale must be >= 1, got {args.width_scale}")
    parts = []
    for data_name in args.data:
        arms, teachers, val_size = pc.collect(args, data_name, lambda d, s: one_seed(args, d, s))
        check = pc.epoch0_check(arms, teachers, EXACT)
        parts.append(rep.report(NAME, args, data_name, arms, teachers, val_size, BASELINE, check))
    scale = f" (the presets' widths x {args.width_scale})" if args.width_scale > 1 else ""
    intro = (
        f"Teacher widths{scale} x2 on every group; students at lr {args.lr} x {args.student_lr_ratio},"
        f" random init and random pad as stated in experiments/README.md."
    )
    print(rep.write_table(NAME, args, argv if argv is not None else sys.argv[1:], parts, intro))


if __name__ == "__main__":
    main()
