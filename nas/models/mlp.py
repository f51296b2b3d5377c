"""Multi-layer perceptron: ``flatten`` -> ``features`` (Linear, ReLU, ...) -> ``head``."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from nas.models import _checks
from nas.models.registry import register_model


@register_model("mlp")
def mlp(
    *, input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (128, 128)
) -> nn.Sequential:
    """MLP over the flattened input (any input shape).

    Args:
        hidden: Width of each hidden Linear + ReLU layer; empty gives a linear classifier.
    """
    shape = _checks.input_shape("mlp", input_shape, None, "a list")
    hidden = _checks.int_list("mlp", "hidden", hidden, allow_empty=True)
    layers: list[nn.Module] = []
    width = math.prod(shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(1),
            features=nn.Sequential(*layers),
            head=nn.Linear(width, num_classes),
        )
    )
