"""Net2DeeperNet vs random init of the deeper architecture (Chen et al. 2016, section 4.2).

A trained teacher gets one identity Conv-BN-ReLU block (Dirac kernel, BN set from the data's
statistics) after every stage, exactly preserving its function; with noise on the new kernels
as a second arm. The same deeper architecture trained from random init is the baseline. Every
arm trains with the same budget; students at ``--student-lr-ratio`` x the teacher's lr.

    python experiments/paper_deeper.py                     # 5 seeds, mnist1d and digits
    python experiments/paper_deeper.py --quick --seeds 0   # seconds
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

import paper_common as pc
import paper_report as rep

from nas import net2net

NAME = "paper_deeper"
BASELINE = "random init"


def deepen_all(teacher, data, seed, **kw):
    """One identity block after every stage of ``teacher`` (its depth points, in order)."""
    x = pc.example(data)
    batches = list(itertools.islice(data.train, 4))
    ksize = pc.PRESETS[data.name]["kernel_size"]
    model = teacher
    for point in net2net.depth_points(teacher, x):
        model = net2net.deepen(model, point.name, example_input=x, data=batches, seed=seed,
                               kernel_size=ksize, **kw)  # fmt: skip
    return model


def one_seed(args, data, seed) -> dict:
    preset = pc.PRESETS[data.name]
    teacher = pc.build(data, preset["teacher"], seed=seed)
    t_run = pc.fit(teacher, data, lr=args.lr, epochs=args.teacher_epochs, seed=seed)
    t_acc64 = t_run["val_acc64"] = pc.accuracy64(teacher, data.val)
    slr = args.lr * args.student_lr_ratio
    deepen_all(teacher, data, seed)  # warm-up: the first fx trace imports dynamo
    arms = {}
    for name, kw in {"Net2DeeperNet": {}, f"Net2DeeperNet + noise {args.noise}":
                     {"noise": args.noise}}.items():  # fmt: skip
        student, secs = pc.timed(lambda kw=kw: deepen_all(teacher, data, seed, **kw))
        if not kw:
            acc0 = pc.accuracy64(student, data.val)
            assert acc0 == t_acc64, f"{name}: epoch-0 val acc {acc0} != teacher's {t_acc64}"
        arms[name] = pc.fit(student, data, lr=slr, epochs=args.epochs, seed=seed,
                            init_seconds=secs)  # fmt: skip
    scratch = pc.fresh_copy(deepen_all(teacher, data, seed), seed=10_000 + seed)
    arms[BASELINE] = pc.fit(scratch, data, lr=args.lr, epochs=args.epochs, seed=seed)
    return {"teacher": t_run, "arms": arms}


def main(argv: Sequence[str] | None = None) -> None:
    p = pc.parser(NAME, __doc__, epochs=30, teacher_epochs=30)
    p.add_argument("--student-lr-ratio", type=float, default=0.1)
    p.add_argument("--noise", type=float, default=0.01)
    args = pc.finish_args(p.parse_args(argv), p)
    parts = []
    for data_name in args.data:
        arms, teachers, val_size = pc.collect(args, data_name, lambda d, s: one_seed(args, d, s))
        check = pc.epoch0_check(arms, teachers, ["Net2DeeperNet"])
        parts.append(rep.report(NAME, args, data_name, arms, teachers, val_size, BASELINE, check))
    intro = (
        f"One identity block after every stage of the teacher; students at lr {args.lr} x "
        f"{args.student_lr_ratio}, random init at lr {args.lr}."
    )
    print(rep.write_table(NAME, args, argv if argv is not None else sys.argv[1:], parts, intro))


if __name__ == "__main__":
    main()
