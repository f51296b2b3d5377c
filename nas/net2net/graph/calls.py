"""Calling a model the same way everywhere: argument dispatch, meta tensors, train/eval mode."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.utils._pytree import tree_map_only

__all__ = ["call_model", "call_on_meta", "in_mode", "twin"]


def call_model(model: Callable[..., Any], example_input: Any) -> Any:
    """Call ``model`` on a batch: tuple -> positional args, mapping -> keyword args, else one arg."""
    if isinstance(example_input, Mapping):
        return model(**example_input)
    if isinstance(example_input, tuple):
        return model(*example_input)
    return model(example_input)


def call_on_meta(model: nn.Module, example_input: Any) -> Any:
    """Run ``model`` on meta tensors: shapes only, no arithmetic (vit_b_16: 60 ms instead of
    400 ms at 224x224 on one thread)."""
    tensors = {
        k: torch.empty_like(t, device="meta")
        for k, t in (*model.named_parameters(), *model.named_buffers())
    }
    meta_input = tree_map_only(torch.Tensor, lambda t: t.to("meta"), example_input)
    return call_model(lambda *a, **k: functional_call(model, tensors, a, k), meta_input)


@contextmanager
def in_mode(model: nn.Module, *, train: bool = False) -> Iterator[nn.Module]:
    """Put ``model`` in eval (or train) mode; afterwards every submodule gets its own flag back.

    ``model.train(was_training)`` would not do: a submodule frozen in eval mode inside a
    training model would come back in train mode.
    """
    modes = {m: m.training for m in model.modules()}
    try:
        model.train(train)
        yield model
    finally:
        for m, flag in modes.items():
            m.training = flag


def twin(model: nn.Module) -> nn.Module:
    """A copy of the module tree sharing every parameter and buffer (nothing is cloned).

    Analyses trace and run the twin, so whatever a forward leaves behind in the modules (a
    cache of attention biases, a call counter, tensors on the meta device) stays out of the
    caller's model.
    """
    memo: dict[int, Any] = {id(t): t for t in (*model.parameters(), *model.buffers())}
    return copy.deepcopy(model, memo)
