"""Which torchvision classifiers Net2Net supports, and why not where it does not.

For each model (random weights, nothing downloaded, num_classes=10): the width groups found and
how many are widenable, the depth points, and every distinct reason a group or a module is
refused (the classifier's group is always refused: its units are the logits). Prints a Markdown
table for the README. Run:
    .venv/bin/python experiments/zoo_report.py [--models resnet18 vit_b_16]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

import torch
import torchvision

from nas import net2net

#: model -> (input size, constructor kwargs); the zoo test covers the same list
ZOO: dict[str, tuple[int, dict]] = {
    "resnet18": (64, {}),
    "resnext50_32x4d": (64, {}),
    "densenet121": (64, {}),
    "googlenet": (64, {"aux_logits": False, "init_weights": False}),
    "inception_v3": (96, {"aux_logits": False, "init_weights": False}),
    "mobilenet_v2": (64, {}),
    "mobilenet_v3_small": (64, {}),
    "efficientnet_b0": (64, {}),
    "regnet_x_400mf": (64, {}),
    "shufflenet_v2_x0_5": (64, {}),
    "squeezenet1_0": (64, {}),
    "vgg11_bn": (64, {}),
    "mnasnet0_5": (64, {}),
    "convnext_tiny": (64, {}),
    "vit_b_16": (224, {}),
    "swin_t": (224, {}),
}


def _short(reason: str) -> str:
    """A reason without the names of modules/nodes, so equal causes count together."""
    reason = re.sub(r"'([A-Za-z_]+?)(_\d+)?' \(\1\)", r"\1", reason)  # 'mul_3' (mul) -> mul
    reason = re.sub(r"'([A-Za-z_]+?)(_\d+)?'", r"\1", reason)
    return re.sub(r"\s+", " ", re.sub(r"\(widenable groups:.*", "", reason)).strip(" :,")


def report(name: str) -> str:
    size, kwargs = ZOO[name]
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10, **kwargs).eval()
    x = torch.randn(1, 3, size, size)
    an = net2net.analyze_widths(model, x)
    listed = net2net.width_groups(model, x)
    found = len(an.groups) + len(an.refused)
    points = net2net.depth_points(model, x)
    why = Counter(_short(g.reason) for g in an.refused if "output" not in g.reason)
    unlisted = len(an.groups) - len(listed)
    if unlisted:
        why["widened graph does not run (a reshape to a fixed size)"] += unlisted
    reasons = "; ".join(f"{r} (x{n})" for r, n in why.most_common()) or "fully supported"
    return f"| {name} | {len(listed)} / {found} | {len(points)} | {reasons} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(ZOO), choices=list(ZOO))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| model | widenable / width groups | depth points | groups refused, and why |")
    print("|---|---|---|---|")
    for name in args.models:
        print(report(name), flush=True)


if __name__ == "__main__":
    main()
