"""No crash, no false listing, over every torchvision classifier (random weights).

For each model: ``width_groups`` + ``depth_points``, then the first, middle and last listed
group widened (x2 where a tile or grouped layer asks, else +1/3; each transform runs its float64
self-check) and the middle depth point deepened; prints max |child - parent| of the float32
children, or FAIL with the exception. Constant tensors (zero-init heads, unit gammas) are made
random first so that a wrong child cannot hide. Run:
    .venv/bin/python experiments/zoo_sweep.py [--skip-largest] [--models resnet18 vit_b_16]
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision

from nas import net2net

#: the largest classifiers (minutes each on one CPU thread)
LARGEST = (
    "vit_h_14", "vit_l_16", "vit_l_32", "regnet_y_128gf", "regnet_y_32gf", "regnet_y_16gf",
    "efficientnet_v2_l", "efficientnet_b7", "maxvit_t",
)  # fmt: skip


def sweep(name: str) -> str:
    size = 299 if name == "inception_v3" else 224
    kwargs = (
        {"aux_logits": False, "init_weights": False}
        if name in ("googlenet", "inception_v3")
        else {}
    )
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10, **kwargs).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                zero = float(p.flatten()[0]) == 0
                p.copy_(torch.randn(p.shape) * 0.1 if zero else torch.rand(p.shape) + 0.5)
    x = torch.randn(1, 3, size, size)
    start = time.perf_counter()
    groups, points = net2net.width_groups(model, x), net2net.depth_points(model, x)
    out = [name, f"{len(groups)} groups", f"{len(points)} points"]
    for g in (groups[0], groups[len(groups) // 2], groups[-1]) if groups else ():
        width = 2 * g.width if g.tile or g.blocks > 1 else g.width + max(1, g.width // 3)
        child = net2net.widen(model, g, width, example_input=x, seed=0)
        out.append(f"widen {net2net.preservation_error(model, child, x):.1e}")
    if points:
        child = net2net.deepen(model, points[len(points) // 2], example_input=x)
        out.append(f"deepen {net2net.preservation_error(model, child, x):.1e}")
    return " | ".join([*out, f"{time.perf_counter() - start:.0f} s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--skip-largest", action="store_true", help=f"skip {', '.join(LARGEST)}")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.models or torchvision.models.list_models(module=torchvision.models)
    failed = 0
    for name in names:
        if args.skip_largest and name in LARGEST:
            continue
        try:
            print(sweep(name), flush=True)
        except Exception as exc:
            failed += 1
            print(f"{name} | FAIL {type(exc).__name__}: {exc}", flush=True)
    print(f"{failed} failed")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
