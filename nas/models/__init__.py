"""Model registry and seed architectures: ``create_model(name, input_shape=..., num_classes=...)``.

Registered: ``mlp``, ``cnn1d``, ``cnn2d``, ``resnet1d``, ``resnet2d``, ``vit``; any torchvision
classification model as ``tv:<name>``. Models are plain ``nn.Module`` trees that torch.fx
traces, with stable module names. ``model_spec`` / ``build_from_spec`` give a JSON description.
"""

from __future__ import annotations

from nas.models import cnn, mlp, resnet, vit  # noqa: F401  (register the seed models)
from nas.models.registry import (
    MODELS,
    TV_PREFIX,
    build_from_spec,
    create_model,
    list_models,
    model_spec,
    register_model,
)
from nas.models.resnet import BasicBlock

__all__ = [
    "MODELS",
    "TV_PREFIX",
    "BasicBlock",
    "build_from_spec",
    "create_model",
    "list_models",
    "model_spec",
    "register_model",
]
