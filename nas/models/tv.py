"""Any torchvision classification model by name, randomly initialized (never downloads).

Inputs with a channel count other than 3 (MNIST, digits) get the model's first ``Conv2d``
replaced by one with the right ``in_channels`` (same kernel, stride, padding), as timm does with
``in_chans``. Repeating grey channels in the data instead would triple the loader's work and
tie a model config to a data transform; adapting the stem keeps the data sets untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from nas.models import _checks


def torchvision_classifiers() -> list[str]:
    """Names of torchvision's classification models (``torchvision.models.list_models``)."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _adapt_first_conv(model: nn.Module, channels: int) -> None:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            if module.in_channels == channels:
                return
            if module.groups != 1:
                raise ValueError(f"model tv: cannot adapt grouped first conv {name!r}")
            new = nn.Conv2d(
                channels,
                module.out_channels,
                module.kernel_size,  # type: ignore[arg-type]
                module.stride,  # type: ignore[arg-type]
                module.padding,  # type: ignore[arg-type]
                module.dilation,  # type: ignore[arg-type]
                bias=module.bias is not None,
                padding_mode=module.padding_mode,
            )
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, new)
            return
    raise ValueError(f"model tv: no Conv2d found to take {channels} input channels")


def torchvision_model(
    tv_name: str, *, input_shape: Sequence[int], num_classes: int, **kwargs: Any
) -> nn.Module:
    """``torchvision.models.get_model(tv_name, weights=None, num_classes=...)`` for images.

    Args:
        tv_name: A torchvision classification model, e.g. ``"resnet18"``.
        input_shape: ``(channels, height, width)``; the stem is adapted to ``channels``.
        **kwargs: Passed to the torchvision builder (e.g. ``image_size`` for ViTs).
    """
    import torchvision

    name = f"tv:{tv_name}"
    available = torchvision_classifiers()
    if tv_name not in available:
        raise ValueError(
            f"model: unknown torchvision model {name!r}; choose tv:<name> with one of: "
            + ", ".join(available)
        )
    if kwargs.get("weights") is not None or kwargs.get("weights_backbone") is not None:
        raise ValueError(f"model {name}: weights must be null (pretrained weights never download)")
    kwargs = {k: v for k, v in kwargs.items() if k not in ("weights", "weights_backbone")}
    shape = _checks.input_shape(name, input_shape, 3, "[channels, height, width]")
    try:
        model = torchvision.models.get_model(
            tv_name, weights=None, num_classes=num_classes, **kwargs
        )
    except TypeError as err:
        raise ValueError(f"model {name}: bad option ({err})") from err
    _adapt_first_conv(model, shape[0])
    return model
