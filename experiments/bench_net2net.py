"""Speed of the Net2Net analysis + transforms against Torch-Pruning's dependency graph.

For each model at 1x3x224x224 on CPU with one thread, in the same process:
  - where the time goes (verify=False): width_groups alone, widen alone (the middle group, x2),
    depth_points alone, deepen alone (the middle point of the widened model), each from a cold
    start (no cached analysis)
  - ours: width_groups + one widen + depth_points + one deepen, with verify=False and verify=True,
    from a cold start (widen reuses the analysis width_groups made, deepen that of depth_points)
  - Torch-Pruning: DependencyGraph().build_dependency (the `bench` extra)
  - copies: a fresh copy of each model ours returns (the widened and the deepened one), nothing
    else: the floor for any implementation that returns new models without sharing tensors
Each figure is the median of --repeats runs (verify=True: of max(1, repeats // 2) runs). Run: `make bench` or
    .venv/bin/python experiments/bench_net2net.py --models resnet18 resnet50
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import warnings
from collections.abc import Callable

import torch
import torchvision

from nas import net2net
from nas.net2net.graph.cache import clear_analysis_caches
from nas.net2net.graph.clone import clone_module

DEFAULT_MODELS = ("resnet18", "resnet50", "densenet121", "mobilenet_v2", "vit_b_16")


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()  # a full collection left pending by an earlier run would be timed here
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _cold(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` from a cold start: no analysis cached from an earlier repeat."""

    def run() -> object:
        clear_analysis_caches()
        return fn()

    return run


def _ours(model: torch.nn.Module, x: torch.Tensor, verify: bool) -> Callable[[], object]:
    @_cold
    def run() -> object:  # widen reuses width_groups' analysis, deepen that of depth_points
        groups = net2net.width_groups(model, x)
        group = groups[len(groups) // 2]
        wide = net2net.widen(model, group, group.width * 2, example_input=x, verify=verify)
        points = net2net.depth_points(wide, x)
        if points:
            return net2net.deepen(wide, points[len(points) // 2], example_input=x, verify=verify)
        return wide

    return run


def _parts(model: torch.nn.Module, x: torch.Tensor) -> dict[str, Callable[[], object]]:
    """Each step of ``_ours`` alone (verify=False), on the same group and point."""
    groups = net2net.width_groups(model, x)
    group = groups[len(groups) // 2]
    wide = net2net.widen(model, group, group.width * 2, example_input=x, verify=False)
    points = net2net.depth_points(wide, x)
    parts: dict[str, Callable[[], object]] = {
        "groups": _cold(lambda: net2net.width_groups(model, x)),
        "widen": _cold(
            lambda: net2net.widen(model, group, group.width * 2, example_input=x, verify=False)
        ),
        "points": _cold(lambda: net2net.depth_points(wide, x)),
    }
    returned = [wide]
    if points:
        point = points[len(points) // 2]
        parts["deepen"] = _cold(lambda: net2net.deepen(wide, point, example_input=x, verify=False))
        returned.append(net2net.deepen(wide, point, example_input=x, verify=False))
    parts["copies"] = lambda: [clone_module(m) for m in returned]
    return parts


def _torch_pruning(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], object] | None:
    try:
        import torch_pruning as tp
    except ImportError:
        return None
    # ViT's class token and position embedding: TP warns that it would prune them (we don't prune)
    warnings.filterwarnings("ignore", message="Unwrapped parameters", category=UserWarning)
    return lambda: tp.DependencyGraph().build_dependency(model, example_inputs=x)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(1, 3, args.size, args.size)
    cols = ("groups", "widen", "points", "deepen", "ours", "ours+verify", "Torch-Pruning", "copies")
    header = f"{'model':<14}" + "".join(f"{c + ' ms':>{max(10, len(c) + 5)}}" for c in cols)
    print(header + f"{'ours/TP':>9}{'copies/TP':>11}")
    print("-" * (len(header) + 20))
    for name in args.models:
        model = torchvision.models.get_model(name, weights=None).eval()
        ms = {k: _median_ms(fn, args.repeats) for k, fn in _parts(model, x).items()}
        ms["ours"] = _median_ms(_ours(model, x, verify=False), args.repeats)
        ms["ours+verify"] = _median_ms(_ours(model, x, verify=True), max(1, args.repeats // 2))
        tp_run = _torch_pruning(model, x)
        ms["Torch-Pruning"] = _median_ms(tp_run, args.repeats) if tp_run else float("nan")
        row = "".join(f"{ms.get(c, float('nan')):>{max(10, len(c) + 5)}.0f}" for c in cols)
        tp_ms = ms["Torch-Pruning"]
        print(f"{name:<14}{row}{ms['ours'] / tp_ms:>9.2f}{ms['copies'] / tp_ms:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
