"""Speed of the Net2Net analysis + transforms against Torch-Pruning's dependency graph.

For each model at 1x3x224x224 on CPU with one thread, in the same process:
  - ours: width_groups + one widen + one deepen, with verify=False, and with verify=True
  - Torch-Pruning: DependencyGraph().build_dependency (the `bench` extra)
Each figure is the median of --repeats runs. Run: `make bench` or
    .venv/bin/python experiments/bench_net2net.py --models resnet18 resnet50
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torchvision

from nas import net2net

DEFAULT_MODELS = ("resnet18", "resnet50", "densenet121", "mobilenet_v2", "vit_b_16")


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _ours(model: torch.nn.Module, x: torch.Tensor, verify: bool) -> Callable[[], object]:
    def run() -> object:
        groups = net2net.width_groups(model, x)
        group = groups[len(groups) // 2]
        wide = net2net.widen(model, group, group.width * 2, example_input=x, verify=verify)
        points = net2net.depth_points(wide, x)
        if points:
            return net2net.deepen(wide, points[len(points) // 2], example_input=x, verify=verify)
        return wide

    return run


def _torch_pruning(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], object] | None:
    try:
        import torch_pruning as tp
    except ImportError:
        return None
    return lambda: tp.DependencyGraph().build_dependency(model, example_inputs=x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(1, 3, args.size, args.size)
    header = (
        f"{'model':<14}{'ours ms':>10}{'ours+verify ms':>16}{'Torch-Pruning ms':>18}{'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    for name in args.models:
        model = torchvision.models.get_model(name, weights=None).eval()
        ours = _median_ms(_ours(model, x, verify=False), args.repeats)
        verified = _median_ms(_ours(model, x, verify=True), max(1, args.repeats // 2))
        tp_run = _torch_pruning(model, x)
        tp_ms = _median_ms(tp_run, args.repeats) if tp_run else float("nan")
        print(f"{name:<14}{ours:>10.0f}{verified:>16.0f}{tp_ms:>18.0f}{ours / tp_ms:>8.2f}")


if __name__ == "__main__":
    main()
