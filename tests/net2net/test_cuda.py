"""The transforms on a model that lives on CUDA: the child lives there too, is exact (float64 on
the GPU), and the optimizer state grown for it loads and steps there. Skipped without CUDA (CI
has none); run on a GPU machine with ``pytest tests/net2net/test_cuda.py``."""

from __future__ import annotations

import pytest
import torch
import torchvision

from nas import net2net
from nas.models import create_model
from nas.net2net.verify import max_abs_diff

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CUDA = torch.device("cuda")


def _models() -> list[tuple[str, torch.nn.Module, torch.Tensor]]:
    torch.manual_seed(0)
    return [
        ("cnn2d", create_model("cnn2d", input_shape=(1, 8, 8), num_classes=10, widths=[8, 16]),
         torch.randn(4, 1, 8, 8)),
        ("vit", create_model("vit", input_shape=(1, 40), num_classes=10, dim=16, heads=2,
                             depth=2), torch.randn(4, 1, 40)),
        ("resnet18", torchvision.models.resnet18(num_classes=10), torch.randn(2, 3, 32, 32)),
    ]  # fmt: skip


def _on_cuda(model: torch.nn.Module) -> bool:
    tensors = [*model.parameters(), *model.buffers()]
    return bool(tensors) and all(t.device.type == "cuda" for t in tensors)


def _relative_error(parent: torch.nn.Module, child: torch.nn.Module, x: torch.Tensor) -> float:
    diff, scale = max_abs_diff(parent, child, x)
    return diff / scale


@pytest.mark.parametrize("index", range(3), ids=["cnn2d", "vit", "resnet18"])
def test_widen_and_deepen_on_cuda_are_exact_and_stay_on_cuda(index: int) -> None:
    _, model, x = _models()[index]  # float64: w / 3 for a unit copied 3 times is exact to 1e-16
    model, x = model.to(CUDA, torch.float64).eval(), x.to(CUDA, torch.float64)
    groups = net2net.width_groups(model, x)
    assert groups, "no width group: nothing was checked"
    group = groups[len(groups) // 2]
    wide = net2net.widen(model, group, 2 * group.width, example_input=x, seed=0)
    assert _on_cuda(wide)
    assert _relative_error(model, wide, x) <= 1e-10
    points = net2net.depth_points(wide, x)
    assert points, "no depth point: nothing was checked"
    deep = net2net.deepen(wide, points[len(points) // 2], example_input=x, data=[x])
    assert _on_cuda(deep)
    assert _relative_error(wide, deep, x) <= 1e-10


def test_transform_options_on_cuda() -> None:
    """The uneven split and zero-out (exact), noise, the random baselines and shrink-and-perturb
    build their tensors on the model's device."""
    _, model, x = _models()[0]
    model, x = model.to(CUDA, torch.float64).eval(), x.to(CUDA, torch.float64)
    group = net2net.width_groups(model, x)[0]
    uneven = net2net.widen(model, group, 3 * group.width, example_input=x, split="uneven", seed=1)
    assert _on_cuda(uneven) and _relative_error(model, uneven, x) <= 1e-10
    noisy = net2net.widen(model, group, 2 * group.width, example_input=x, noise=0.01, seed=1)
    assert _on_cuda(noisy) and 0 < _relative_error(model, noisy, x) < 0.1
    fresh = net2net.widen(model, group, 2 * group.width, example_input=x, init="zero_out", seed=1)
    assert _on_cuda(fresh) and _relative_error(model, fresh, x) <= 1e-10
    for init in ("random_pad", "random_init"):
        assert _on_cuda(net2net.widen(model, group, 2 * group.width, example_input=x, init=init))
    point = net2net.depth_points(model, x)[0]
    deep = net2net.deepen(model, point, example_input=x, data=[x], noise=0.01, seed=1)
    assert _on_cuda(deep) and 0 < _relative_error(model, deep, x) < 0.1
    assert _on_cuda(net2net.shrink_perturb(model, seed=1))


def test_a_cpu_example_input_meets_a_cuda_model() -> None:
    """A model trained on the GPU, an example batch from a CPU loader: analysis, the float64
    self-check (run on the model's device) and the summary all work."""
    _, model, x = _models()[1]
    model = model.to(CUDA)
    group = net2net.width_groups(model, x)[-1]
    wide = net2net.widen(model, group, 2 * group.width, example_input=x, seed=0)
    deep = net2net.deepen(wide, net2net.depth_points(wide, x)[0], example_input=x, data=[x])
    assert _on_cuda(deep) and net2net.summarize(deep, x)


def test_grown_optimizer_state_loads_and_steps_on_cuda() -> None:
    _, model, x = _models()[0]
    model, x = model.to(CUDA), x.to(CUDA)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()
    group = net2net.width_groups(model, x)[0]
    child, mapping = net2net.widen_with_mapping(model, group, 2 * group.width, example_input=x)
    grown = net2net.grow_optimizer_state(opt.state_dict(), model, child, mapping)
    opt2 = torch.optim.AdamW(child.parameters(), lr=1e-2)
    opt2.load_state_dict(grown)
    moments = [s["exp_avg"] for s in opt2.state_dict()["state"].values()]
    assert moments and all(m.device.type == "cuda" for m in moments)
    child(x).pow(2).sum().backward()
    opt2.step()  # fails if any state tensor's shape or device does not fit its parameter
