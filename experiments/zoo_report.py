"""Which torchvision classifiers Net2Net supports, and why not where it does not.

For each model (random weights, nothing downloaded, num_classes=10): the width groups found and
how many are widenable, the depth points, the seconds ``width_groups`` + ``depth_points`` take
from a cold start on one thread, and every distinct reason a group or a module is
refused (the classifier's group is always refused: its units are the logits). Prints a Markdown
table for the README. Run:
    .venv/bin/python experiments/zoo_report.py [--models resnet18 vit_b_16]
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter

import torch
import torchvision

from nas import net2net
from nas.net2net.graph.cache import clear_analysis_caches

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
    "shufflenet_v2_x1_0": (64, {}),
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


def _unlisted_reason(model: torch.nn.Module, group: net2net.WidthGroup, x: torch.Tensor) -> str:
    try:
        net2net.widen(model, group, 2 * group.width, example_input=x, verify=False)
    except net2net.NotWidenableError as exc:
        return _short(str(exc).split(": ", 1)[-1])
    return "widens x2, but not at the listing's trial widths"


def report(name: str) -> str:
    size, kwargs = ZOO[name]
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10, **kwargs).eval()
    x = torch.randn(1, 3, size, size)
    net2net.width_groups(model, x)  # warm-up: the first trace of a process imports more
    clear_analysis_caches()
    start = time.perf_counter()
    listed = net2net.width_groups(model, x)
    points = net2net.depth_points(model, x)
    seconds = time.perf_counter() - start
    an = net2net.analyze_widths(model, x)
    found = len(an.groups) + len(an.refused)
    why = Counter(_short(g.reason) for g in an.refused if "output" not in g.reason)
    names = {g.name for g in listed}
    for g in an.groups:  # found, but its widened graph failed the listing's trial: widen says why
        if g.name not in names:
            why[_unlisted_reason(model, g, x)] += 1
    reasons = "; ".join(f"{r} (x{n})" for r, n in why.most_common()) or "fully supported"
    return f"| {name} | {len(listed)} / {found} | {len(points)} | {seconds:.2f} | {reasons} |"


def list_seconds(name: str) -> tuple[float, int, int]:
    """(seconds for width_groups + depth_points from a cold start, groups, points) at 224x224
    (299 for Inception v3), one thread."""
    size = 299 if name == "inception_v3" else 224
    kwargs = ZOO.get(name, (size, {}))[1]
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=10, **kwargs).eval()
    x = torch.randn(1, 3, size, size)
    clear_analysis_caches()
    start = time.perf_counter()
    groups = net2net.width_groups(model, x)
    points = net2net.depth_points(model, x)
    return time.perf_counter() - start, len(groups), len(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(ZOO), choices=list(ZOO))
    parser.add_argument(
        "--all-timings",
        action="store_true",
        help="instead: time listing groups and points for every torchvision classifier",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.all_timings:
        net2net.width_groups(torchvision.models.resnet18(num_classes=10), torch.randn(1, 3, 64, 64))
        print("| model | list s | widenable groups | depth points |\n|---|---:|---:|---:|")
        for name in torchvision.models.list_models(module=torchvision.models):
            seconds, groups, points = list_seconds(name)
            print(f"| {name} | {seconds:.2f} | {groups} | {points} |", flush=True)
        return
    print("| model | widenable / width groups | depth points | list s | groups refused, and why |")
    print("|---|---|---|---:|---|")
    for name in args.models:
        print(report(name), flush=True)


if __name__ == "__main__":
    main()
