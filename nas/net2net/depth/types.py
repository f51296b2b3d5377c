"""Data types shared by the deepening modules: depth points, their analysis, shape records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..graph.calls import call_model, call_on_meta, in_mode
from ..width.ops import MODULE_KINDS

__all__ = ["DepthPoint", "PointAnalysis", "Record", "record_shapes"]


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


@dataclass
class Record:
    calls: int = 0
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None


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
    same_shape = [
        m for m in model.modules() if isinstance(m, _SAME_SHAPE) and "forward" not in vars(m)
    ]
    attention = [
        m for m in model.modules() if type(m) is nn.MultiheadAttention and "forward" not in vars(m)
    ]
    try:
        with in_mode(model), torch.no_grad():
            try:
                for m in same_shape:  # on meta tensors only shapes matter: skip the arithmetic
                    m.forward = _pass_through
                for m in attention:
                    m.forward = _attention_shapes(m)
                call_on_meta(model, example_input)
            except Exception:  # an op without a meta kernel, data-dependent Python control flow
                records.clear()
                call_model(model, example_input)
    finally:
        for m in (*same_shape, *attention):
            del m.forward
        for h in handles:
            h.remove()
    return records


#: modules whose output has their input's shape (meta kernels of some cost ~5 ms a call)
_SAME_SHAPE = (
    *(t for t, kind in MODULE_KINDS.items() if kind == "elementwise"),  # activations, dropout
    nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
)  # fmt: skip


def _pass_through(x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


def _attention_shapes(m: nn.MultiheadAttention) -> Callable[..., Any]:
    """``m.forward`` for shapes only: its meta kernels cost ~7 ms a call (vit_b_16: 12 calls).
    Output: the query's shape with ``embed_dim`` features; weights, when asked for, [N,] [heads,]
    L x S as documented for ``nn.MultiheadAttention``."""

    def forward(
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = query.new_empty((*query.shape[:-1], m.embed_dim))
        if not need_weights:
            return out, None
        lead: tuple[int, ...] = ()
        if query.dim() == 3:
            seq, batch = (1, 0) if m.batch_first else (0, 1)
            lead = (query.shape[batch],)
        else:
            seq = 0
        heads = () if average_attn_weights else (m.num_heads,)
        return out, query.new_empty((*lead, *heads, query.shape[seq], key.shape[seq]))

    return forward
