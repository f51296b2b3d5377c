"""Argument checks shared by the model factories: each failure is one-line ``ValueError``.

Factories accept any sequence (Hydra's ``ListConfig`` included) and return plain Python values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def positive_int(model: str, field: str, value: Any, minimum: int = 1) -> int:
    """``value`` if it is an integer >= ``minimum``, else ValueError naming the field."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"model {model}: {field} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def int_list(model: str, field: str, value: Any, *, allow_empty: bool = False) -> list[int]:
    """``value`` as a list of positive integers (non-empty unless ``allow_empty``)."""
    what = "a list of positive integers" if allow_empty else "a non-empty list of positive integers"
    if not _is_seq(value) or (not value and not allow_empty):
        raise ValueError(f"model {model}: {field} must be {what}, got {value!r}")
    if not all(_is_int(v) and v > 0 for v in value):
        raise ValueError(f"model {model}: {field} must be {what}, got {list(value)!r}")
    return [int(v) for v in value]


def per_stage(model: str, field: str, value: Any, stages: int) -> list[int]:
    """An int (same for every stage) or one positive integer per stage."""
    if _is_int(value):
        return [positive_int(model, field, value)] * stages
    values = int_list(model, field, value)
    if len(values) != stages:
        raise ValueError(
            f"model {model}: {field} must be a positive integer or a list of {stages} "
            f"(one per entry of widths), got {values!r}"
        )
    return values


def odd_kernel(model: str, value: Any) -> int:
    """A positive odd kernel size (odd keeps 'same' padding exact and lets Net2Net deepen)."""
    if not _is_int(value) or value <= 0 or value % 2 == 0:
        raise ValueError(
            f"model {model}: kernel_size must be a positive odd integer, got {value!r}"
        )
    return int(value)


def choice(model: str, field: str, value: Any, allowed: Sequence[Any]) -> Any:
    """``value`` if it is one of ``allowed``, else ValueError listing them."""
    if value not in allowed:
        listed = ", ".join("null" if a is None else str(a) for a in allowed)
        raise ValueError(f"model {model}: {field} must be one of {listed}; got {value!r}")
    return value


def input_shape(model: str, value: Any, ndim: int | None, layout: str) -> tuple[int, ...]:
    """``value`` as a tuple of positive ints with ``ndim`` entries (any length when None)."""
    ok = _is_seq(value) and len(value) > 0 and all(_is_int(v) and v > 0 for v in value)
    if not ok or (ndim is not None and len(value) != ndim):
        raise ValueError(
            f"model {model}: input_shape must be {layout} of positive integers, got {value!r}"
        )
    return tuple(int(v) for v in value)
