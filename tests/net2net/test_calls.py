"""Calling a model uniformly (``nas.net2net.graph.calls``): the batch follows the model's device."""

from __future__ import annotations

import torch
from torch import nn

from nas.net2net.graph import call_model


def test_call_model_moves_the_batch_to_the_models_device() -> None:
    """A model elsewhere than its example batch (CUDA in a search, meta in this CPU test) gets the
    batch on its own device; a model without tensors gets it as it is."""
    model = nn.Linear(3, 2, device="meta")
    out = call_model(model, {"input": torch.randn(4, 3)})
    assert out.device.type == "meta" and out.shape == (4, 2)
    assert call_model(nn.ReLU(), torch.full((2,), -1.0)).device.type == "cpu"
