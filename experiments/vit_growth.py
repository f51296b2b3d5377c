"""A trained small ViT grown by Net2Net: the residual stream x2 (heads x2, head_dim kept) and,
in a second arm, also one block deeper, against the same wide ViT from random init.

The teacher (``model=vit``: patch conv, class token, position embedding, one pre-norm encoder
block) trains first; each student starts at exactly the teacher's val accuracy (float64
eval-mode check at epoch 0, asserted) and then trains like the baseline.

    python experiments/vit_growth.py                     # 3 seeds, digits and mnist1d
    python experiments/vit_growth.py --quick --seeds 0   # seconds
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import paper_common as pc
import paper_report as rep
import torch

from nas import net2net
from nas.models import create_model

NAME = "vit_growth"
BASELINE = "random init"
WIDE = "Net2Net stream x2 (heads x2)"
WIDE_DEEP = "Net2Net stream x2 + 1 block"
#: per data set: patch size of the ViT (digits 8x8 -> 16 patches, mnist1d 40 -> 10)
PATCH = {"digits": 2, "mnist1d": 4}


def build_vit(data, dim: int, depth: int, seed: int) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_model(
            "vit", input_shape=data.input_shape, num_classes=data.num_classes,
            patch_size=PATCH[data.name], dim=dim, depth=depth, heads=2,
        )  # fmt: skip


def grow(teacher, data, seed: int, deeper: bool) -> torch.nn.Module:
    x = pc.example(data)
    (stream,) = [g for g in net2net.width_groups(teacher, x) if g.name == "patch"]
    child = net2net.widen(teacher, stream, 2 * stream.width, example_input=x, seed=seed,
                          split="uneven")  # fmt: skip
    if deeper:
        child = net2net.deepen(child, "blocks.0", example_input=x, seed=seed)
    return child


def one_seed(args, data, seed) -> dict:
    teacher = build_vit(data, args.dim, 1, seed)
    t_run = pc.fit(teacher, data, lr=args.lr, epochs=args.teacher_epochs, seed=seed)
    t_acc64 = t_run["val_acc64"] = pc.accuracy64(teacher, data.val)
    grow(teacher, data, seed, deeper=True)  # warm-up: the first fx trace imports dynamo
    arms = {}
    for name, deeper in ((WIDE, False), (WIDE_DEEP, True)):
        student, secs = pc.timed(lambda d=deeper: grow(teacher, data, seed, d))
        acc0 = pc.accuracy64(student, data.val)
        assert acc0 == t_acc64, f"{name}: epoch-0 val acc {acc0} != teacher's {t_acc64}"
        arms[name] = pc.fit(student, data, lr=args.lr * args.student_lr_ratio,
                            epochs=args.epochs, seed=seed, init_seconds=secs)  # fmt: skip
    scratch = build_vit(data, 2 * args.dim, 1, 10_000 + seed)
    arms[BASELINE] = pc.fit(scratch, data, lr=args.lr, epochs=args.epochs, seed=seed)
    return {"teacher": t_run, "arms": arms}


def main(argv: Sequence[str] | None = None) -> None:
    p = pc.parser(NAME, __doc__, epochs=20, teacher_epochs=20)
    p.set_defaults(seeds=[0, 1, 2], data=["digits", "mnist1d"], lr=3e-3)
    p.add_argument("--dim", type=int, default=16, help="the teacher's stream width")
    p.add_argument("--student-lr-ratio", type=float, default=1.0)
    args = pc.finish_args(p.parse_args(argv), p)
    parts = []
    for data_name in args.data:
        arms, teachers, val_size = pc.collect(args, data_name, lambda d, s: one_seed(args, d, s))
        check = pc.epoch0_check(arms, teachers, [WIDE, WIDE_DEEP])
        parts.append(rep.report(NAME, args, data_name, arms, teachers, val_size, BASELINE, check))
    intro = (
        f"Teacher ViT (dim {args.dim}, 2 heads, 1 block) widened in the stream x2 (heads x2, "
        f"head_dim kept; uneven split) and optionally deepened by one zero-initialised block; "
        f"students at lr {args.lr} x {args.student_lr_ratio}, the wide ViT from random init at "
        f"lr {args.lr}."
    )
    print(rep.write_table(NAME, args, argv if argv is not None else sys.argv[1:], parts, intro))


if __name__ == "__main__":
    main()
