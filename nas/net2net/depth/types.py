"""Data types shared by the deepening modules: depth points, their analysis, shape records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.utils._pytree import tree_map_only

__all__ = ["DepthPoint", "PointAnalysis", "Record", "call_model", "record_shapes"]


@dataclass(frozen=True)
class DepthPoint:
    """A place where ``deepen`` inserts an identity block.

    Attributes:
        name: module after which the new block goes (stable: derived from module names).
        kind: ``"conv"``, ``"linear"``, ``"residual"`` or ``"transformer"``.
        width: channels / features / embedding size of the tensor at the point.
        shape: shape of that tensor for the example input.
        spatial_dims: 1-3 for conv points (Conv1d/2d/3d), 0 otherwise.
        activation: activation that makes the point exact (conv/linear: the one before the point,
            reused in the new block; residual: the block's post-add activation, "" if none).
        container: residual/transformer only: the ``nn.Sequential`` the copy is inserted into.
        template: residual/transformer only: the block whose copy is inserted.
        zeroed: residual/transformer only: tensors (relative to the new block) set to zero.
        shortcut: residual only: the template's projection shortcut, replaced by nn.Identity in
            the copy (whose input convs are rebuilt for the new shape), "" if none.
        prepend_activation: conv/linear only: ``name`` is the module before a functional
            activation (``F.relu``), so the wrapper applies that activation itself first.
    """

    name: str
    kind: str
    width: int
    shape: tuple[int, ...]
    spatial_dims: int = 0
    activation: str = ""
    container: str = ""
    template: str = ""
    zeroed: tuple[str, ...] = ()
    prepend_activation: bool = False
    shortcut: str = ""


@dataclass
class PointAnalysis:
    """Depth points of one model and, for names that are not points, why not."""

    points: dict[str, DepthPoint] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    module_types: dict[str, str] = field(default_factory=dict)

    def explain(self, name: str) -> str:
        """One-line reason why ``name`` is not a depth point."""
        if name in self.refused:
            return f"cannot deepen at '{name}': {self.refused[name]}"
        listed = ", ".join(self.points) or "none"
        if name in self.module_types:
            why = (
                f"'{name}' ({self.module_types[name]}) is neither an idempotent activation "
                "(ReLU) called once, nor the module before a functional relu, nor a residual "
                "block in an nn.Sequential"
            )
        else:
            why = "the model has no module of that name"
        return f"cannot deepen at '{name}': {why} (depth points: {listed})"


def call_model(model: Callable[..., Any], example_input: Any) -> Any:
    """Call ``model`` the way verify.py does: tuple -> positional args, mapping -> kwargs."""
    if isinstance(example_input, dict):
        return model(**example_input)
    if isinstance(example_input, tuple):
        return model(*example_input)
    return model(example_input)


@dataclass
class Record:
    calls: int = 0
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None


def _call_on_meta(model: nn.Module, example_input: Any) -> Any:
    """Run ``model`` on meta tensors: shapes only, no arithmetic (vit_b_16: 60 ms instead of
    400 ms at 224x224 on one thread)."""
    tensors = {
        k: torch.empty_like(t, device="meta")
        for k, t in (*model.named_parameters(), *model.named_buffers())
    }
    meta_input = tree_map_only(torch.Tensor, lambda t: t.to("meta"), example_input)
    return call_model(lambda *a, **k: functional_call(model, tensors, a, k), meta_input)


def record_shapes(model: nn.Module, example_input: Any) -> dict[str, Record]:
    """Per module: how often it is called and its first input/output shapes (eval, no grad)."""
    records: dict[str, Record] = {}
    handles = []

    def hook(name: str):
        def fn(_m: nn.Module, args: tuple, out: Any) -> None:
            r = records.setdefault(name, Record())
            r.calls += 1
            if r.calls == 1:
                if args and isinstance(args[0], torch.Tensor):
                    r.in_shape = tuple(args[0].shape)
                if isinstance(out, torch.Tensor):
                    r.out_shape = tuple(out.shape)

        return fn

    for name, m in model.named_modules():
        handles.append(m.register_forward_hook(hook(name)))
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            try:
                _call_on_meta(model, example_input)
            except Exception:  # an op without a meta kernel, data-dependent Python control flow
                records.clear()
                call_model(model, example_input)
    finally:
        for h in handles:
            h.remove()
        for m, t in modes.items():
            m.training = t
    return records
