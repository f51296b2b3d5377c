"""Every registered model builds, runs, traces with torch.fx and round-trips through JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from torch import fx, nn

from nas.models import MODELS, build_from_spec, create_model, list_models, model_spec

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"

# (name, input_shape, kwargs): every registered model at least once, plus torchvision.
CASES = [
    ("mlp", (1, 40), {}),
    ("mlp", (3, 8, 8), {"hidden": []}),
    ("cnn1d", (1, 40), {}),
    ("cnn1d", (3, 17), {"widths": [4, 6], "blocks": [2, 1], "kernel_size": 3, "pool": "max"}),
    ("cnn1d", (1, 40), {"widths": [8, 8], "stride": 2, "pool": "avg"}),
    ("cnn2d", (1, 8, 8), {}),
    ("cnn2d", (3, 9, 7), {"widths": [4, 4, 4], "stride": 2, "pool": None}),
    ("resnet1d", (1, 40), {}),
    ("resnet1d", (2, 33), {"widths": [4, 8], "blocks": [2, 2], "kernel_size": 5}),
    ("resnet2d", (1, 8, 8), {}),
    ("resnet2d", (3, 16, 16), {"widths": [4, 4], "blocks": 2, "stride": 1}),
    ("tv:resnet18", (3, 32, 32), {}),
    ("tv:resnet18", (1, 28, 28), {}),
    ("vit", (1, 40), {}),
    ("vit", (3, 8, 8), {"patch_size": 2, "dim": 12, "depth": 2, "heads": 3, "mlp_ratio": 1.5}),
]


def _example(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))


def test_cases_cover_every_registered_model() -> None:
    assert set(list_models()) == set(MODELS) <= {name for name, _, _ in CASES}


@pytest.mark.parametrize(("name", "shape", "kwargs"), CASES, ids=lambda c: str(c))
def test_builds_runs_and_traces(name: str, shape: tuple[int, ...], kwargs: dict) -> None:
    torch.manual_seed(0)
    model = create_model(name, input_shape=shape, num_classes=7, **kwargs).eval()
    x = _example(shape)
    with torch.no_grad():
        out = model(x)
        traced = fx.symbolic_trace(model)
        assert torch.equal(traced(x), out)
    assert out.shape == (2, 7)
    assert model.training is False and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["cnn1d", "cnn2d", "resnet1d", "resnet2d", "mlp"])
def test_relus_are_separate_modules_not_inplace(name: str) -> None:
    shape = (1, 40) if name.endswith("1d") or name == "mlp" else (1, 8, 8)
    model = create_model(name, input_shape=shape, num_classes=10)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert relus and not any(m.inplace for m in relus)
    assert len({id(m) for m in relus}) == len(relus)


def test_stable_module_names() -> None:
    cnn = create_model("cnn1d", input_shape=(1, 40), num_classes=10, widths=[8, 8])
    names = dict(cnn.named_modules())
    assert isinstance(names["features.0"], nn.Conv1d)
    assert isinstance(names["features.1"], nn.BatchNorm1d)
    assert isinstance(names["features.2"], nn.ReLU)
    assert isinstance(names["features.3"], nn.Conv1d) and isinstance(names["head"], nn.Linear)
    res = dict(create_model("resnet2d", input_shape=(1, 8, 8), num_classes=10).named_modules())
    assert {"stem.0", "blocks.0.conv1", "blocks.1.shortcut.0", "head"} <= set(res)
    assert res["blocks.0"].shortcut is None  # identity shortcut: out = relu(branch(x) + x)


def test_torchvision_stem_adapted_to_input_channels() -> None:
    model = create_model("tv:resnet18", input_shape=(1, 28, 28), num_classes=10)
    assert model.conv1.in_channels == 1 and model.fc.out_features == 10


@pytest.mark.parametrize(("name", "shape", "kwargs"), CASES, ids=lambda c: str(c))
def test_spec_json_round_trip(name: str, shape: tuple[int, ...], kwargs: dict) -> None:
    spec = json.loads(json.dumps(model_spec(name, **kwargs)))
    assert spec["name"] == name
    torch.manual_seed(1)
    first = create_model(name, input_shape=shape, num_classes=5, **kwargs)
    torch.manual_seed(1)
    second = build_from_spec(spec, input_shape=shape, num_classes=5)
    a, b = first.state_dict(), second.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_spec_fills_in_defaults() -> None:
    spec = model_spec("cnn1d", widths=(8, 8))
    assert spec == {
        "name": "cnn1d",
        "kwargs": {"widths": [8, 8], "blocks": 1, "kernel_size": 5, "stride": 1, "pool": None},
    }


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_model_configs_build(path: Path) -> None:
    cfg = yaml.safe_load(path.read_text())
    assert cfg.pop("_target_") == "nas.models.create_model"
    name = cfg.pop("name")
    shape = (1, 40) if name in ("cnn1d", "resnet1d", "mlp") else (1, 8, 8)
    model = create_model(name, input_shape=shape, num_classes=10, **cfg)
    assert model(_example(shape)).shape == (2, 10)
    assert json.loads(json.dumps(model_spec(name, **cfg)))["name"] == name


def test_seed_configs_sizes() -> None:
    """The default seed of the search is small; the default model is the larger one."""
    small = yaml.safe_load((CONF / "cnn1d_small.yaml").read_text())
    default = yaml.safe_load((CONF / "cnn1d.yaml").read_text())
    assert max(small["widths"]) <= 8 < min(default["widths"])
