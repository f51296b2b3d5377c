"""Function-preservation checks shared by widening and deepening.

The check is an honest forward pass of parent and child on the same input, in float64 and eval
mode, on deep copies (so neither the caller's models nor their dtype/mode are touched).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .errors import Net2NetError, VerificationError
from .graph.calls import call_model, in_mode
from .graph.clone import clone_module

__all__ = ["check_preserved", "output_scale", "preservation_error"]

#: Default tolerance of the float64 self-check, relative to the parent's output scale.
REL_TOL = 1e-10


def _flatten(out: Any) -> list[torch.Tensor]:
    """All tensors in a (possibly nested) model output, in a deterministic order."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for k in sorted(out, key=str) for t in _flatten(out[k])]
    if isinstance(out, Sequence) and not isinstance(out, str):
        return [t for o in out for t in _flatten(o)]
    if hasattr(out, "_fields"):  # namedtuple-like
        return [t for o in out for t in _flatten(o)]
    return []


def _cast(x: Any, dtype: torch.dtype | None) -> Any:
    if dtype is None:
        return x
    if isinstance(x, torch.Tensor):
        return x.to(dtype) if x.is_floating_point() else x
    if isinstance(x, tuple | list):
        return type(x)(_cast(v, dtype) for v in x)
    if isinstance(x, Mapping):
        return {k: _cast(v, dtype) for k, v in x.items()}
    return x


def _outputs(
    model: nn.Module, example_input: Any, dtype: torch.dtype | None, train: bool
) -> list[torch.Tensor]:
    with in_mode(model, train=train), torch.no_grad():
        return [t.detach() for t in _flatten(call_model(model, _cast(example_input, dtype)))]


def _copy_as(model: nn.Module, dtype: torch.dtype | None) -> nn.Module:
    """A deep copy with floating tensors cast to ``dtype`` as they are copied (one copy of the
    weights, not a copy and then a cast)."""
    memo: dict[int, Any] = {}
    if dtype is not None:
        for t in (*model.parameters(), *model.buffers()):
            if t.is_floating_point() and id(t) not in memo:
                new = t.detach().to(dtype, copy=True)
                is_param = isinstance(t, nn.Parameter)
                memo[id(t)] = nn.Parameter(new, t.requires_grad) if is_param else new
    return clone_module(model, memo)


def max_abs_diff(
    parent: nn.Module,
    child: nn.Module,
    example_input: Any,
    *,
    dtype: torch.dtype | None = torch.float64,
    train: bool = False,
) -> tuple[float, float]:
    """(max |child - parent| over all outputs, max |parent output|).

    Works on deep copies cast to ``dtype`` (None keeps the models' dtype), so running statistics
    updated in train mode never leak back into the callers' models.
    """
    p, c = _copy_as(parent, dtype), _copy_as(child, dtype)
    a, b = _outputs(p, example_input, dtype, train), _outputs(c, example_input, dtype, train)
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b, strict=True)):
        return float("inf"), output_scale(a)
    diff = max(
        (float((x - y).abs().max()) for x, y in zip(a, b, strict=True) if x.numel()), default=0.0
    )
    return diff, output_scale(a)


def output_scale(outputs: list[torch.Tensor]) -> float:
    """max |output|, at least 1 (so the tolerance is absolute for tiny outputs)."""
    m = max((float(t.abs().max()) for t in outputs if t.numel()), default=0.0)
    return max(m, 1.0)


def preservation_error(
    parent: nn.Module,
    child: nn.Module,
    example_input: Any,
    *,
    dtype: torch.dtype | None = torch.float64,
) -> float:
    """Max |output difference| between parent and child in eval mode (float64 by default).

    Both models are left exactly as they were (copies are evaluated). Returns ``inf`` when the
    outputs' shapes differ.
    """
    return max_abs_diff(parent, child, example_input, dtype=dtype, train=False)[0]


def check_preserved(
    parent: nn.Module,
    child: nn.Module,
    example_input: Any,
    *,
    what: str,
    rel_tol: float = REL_TOL,
    train: bool = False,
    refuse: type[Net2NetError] = VerificationError,
) -> float:
    """Raise VerificationError unless child computes parent's function in float64.

    Returns the absolute error. ``what`` names the transform in the error message. A forward
    that raises (the child cannot even run) is a refusal of type ``refuse``, not a traceback.
    """
    try:
        diff, scale = max_abs_diff(parent, child, example_input, dtype=torch.float64, train=train)
    except Exception as exc:
        raise refuse(
            f"{what}: the child's forward fails ({type(exc).__name__}: {exc}); refused"
        ) from exc
    if not diff <= rel_tol * scale:
        mode = "train" if train else "eval"
        raise VerificationError(
            f"{what}: self-check failed, max |child - parent| = {diff:.3g} in float64 {mode} mode "
            f"(tolerance {rel_tol:.0e} x output scale {scale:.3g}); refusing to return a model "
            "whose function changed"
        )
    return diff
