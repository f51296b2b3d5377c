"""Bad model names and options: one-line ValueError naming the field and what is allowed."""

from __future__ import annotations

import pytest
from torch import nn

from nas.models import MODELS, create_model, model_spec, register_model
from nas.models.registry import build_from_spec


def _error(name: str, shape: tuple = (1, 40), **kwargs: object) -> str:
    with pytest.raises(ValueError) as info:
        create_model(name, input_shape=shape, num_classes=10, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_name_lists_choices() -> None:
    message = _error("cnn3d")
    assert "'cnn3d'" in message and "tv:<torchvision name>" in message
    for name in MODELS:
        assert name in message


def test_unknown_torchvision_name() -> None:
    message = _error("tv:not_a_net", (3, 32, 32))
    assert "tv:not_a_net" in message and "resnet18" in message


@pytest.mark.parametrize(
    ("name", "kwargs", "field", "allowed"),
    [
        ("cnn1d", {"widths": [8, 0]}, "widths", "positive integers"),
        ("cnn1d", {"widths": []}, "widths", "non-empty"),
        ("cnn1d", {"widths": 8}, "widths", "list"),
        ("cnn1d", {"blocks": 0}, "blocks", ">= 1"),
        ("cnn1d", {"widths": [8, 8], "blocks": [1, 1, 1]}, "blocks", "list of 2"),
        ("cnn1d", {"kernel_size": 4}, "kernel_size", "positive odd"),
        ("cnn1d", {"kernel_size": 0}, "kernel_size", "positive odd"),
        ("cnn1d", {"stride": 0}, "stride", ">= 1"),
        ("cnn1d", {"pool": "min"}, "pool", "max, avg"),
        ("cnn1d", {"width": [8]}, "width", "allowed: widths"),
        ("resnet1d", {"widths": [-4]}, "widths", "positive integers"),
        ("resnet1d", {"kernel_size": 2}, "kernel_size", "positive odd"),
        ("mlp", {"hidden": [16, 0]}, "hidden", "positive integers"),
        ("mlp", {"hidden": [True]}, "hidden", "positive integers"),
        ("vit", {"dim": 15, "heads": 2}, "dim 15", "multiple of heads"),
        ("vit", {"patch_size": 3}, "patch_size 3", "must divide"),
        ("vit", {"mlp_ratio": 0}, "mlp_ratio", "> 0"),
        ("vit", {"depth": 0}, "depth", ">= 1"),
    ],
)
def test_bad_option(name: str, kwargs: dict, field: str, allowed: str) -> None:
    message = _error(name, **kwargs)
    assert field in message and allowed in message and name in message


@pytest.mark.parametrize(
    ("name", "shape"),
    [("cnn1d", (1, 8, 8)), ("cnn2d", (1, 40)), ("tv:resnet18", (1, 40)), ("vit", (1, 2, 4, 4))],
)
def test_wrong_input_rank(name: str, shape: tuple) -> None:
    assert "input_shape" in _error(name, shape)


def test_num_classes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        create_model("mlp", input_shape=(4,), num_classes=0)


def test_torchvision_weights_refused() -> None:
    assert "weights" in _error("tv:resnet18", (3, 32, 32), weights="DEFAULT")


def test_bad_spec() -> None:
    with pytest.raises(ValueError, match="spec"):
        build_from_spec({"kwargs": {}}, input_shape=(1, 40), num_classes=10)
    with pytest.raises(ValueError, match="unknown option"):
        model_spec("cnn1d", depth=3)
    with pytest.raises(ValueError, match="JSON"):
        model_spec("cnn1d", widths=[8], pool=object())


def test_register_model() -> None:
    @register_model("_test_linear")
    def linear(*, input_shape, num_classes, bias: bool = True) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], num_classes, bias=bias))

    try:
        model = create_model("_test_linear", input_shape=(1, 5), num_classes=3, bias=False)
        assert model[1].bias is None
        assert model_spec("_test_linear") == {"name": "_test_linear", "kwargs": {"bias": True}}
        with pytest.raises(ValueError, match="already registered"):
            register_model("_test_linear")(lambda **kw: nn.Identity())
    finally:
        MODELS.pop("_test_linear")
    with pytest.raises(ValueError, match="tv:"):
        register_model("tv:mine")
