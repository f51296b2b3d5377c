"""Reuse an analysis across transforms of the same model: ``width_groups`` then ``widen``,
``depth_points`` then ``deepen`` analyse the same graph twice otherwise.

A few entries per analysis function: the last models it saw (held weakly: an entry goes when
its model does; the least recently used goes beyond ``ENTRIES``, so a search that describes a
child and later grows it as a parent finds it again), each with a signature of everything an analysis reads - module types and names, train
flags, parameter and buffer shapes and dtypes, plain attributes (sizes, flags) - and of the
example input's shapes. Any difference re-runs the analysis.
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn
from torch.utils._pytree import tree_flatten

__all__ = ["cached_analysis", "clear_analysis_caches", "shared_cache", "structure"]

T = TypeVar("T")
_CACHES: list[dict[str, Any]] = []
_PLAIN = (int, float, bool, str, type(None))
ENTRIES = 8


def _plain(v: Any) -> bool:
    return isinstance(v, _PLAIN) or (isinstance(v, tuple) and all(isinstance(e, _PLAIN) for e in v))


def signature(model: nn.Module, example_input: Any) -> tuple:
    """What an analysis of ``model`` on ``example_input`` depends on (weights' values aside)."""
    parts = []
    for name, m in model.named_modules():
        tensors = tuple(
            (k, tuple(t.shape), t.dtype)
            for k, t in (*m._parameters.items(), *m._buffers.items())
            if t is not None
        )
        attrs = tuple((k, v) for k, v in vars(m).items() if not k.startswith("_") and _plain(v))
        parts.append((name, type(m), m.training, tensors, attrs))
    leaves, spec = tree_flatten(example_input)
    inputs = tuple(
        (tuple(x.shape), x.dtype) if isinstance(x, torch.Tensor) else x
        for x in leaves
        if isinstance(x, torch.Tensor) or _plain(x)
    )
    return tuple(parts), inputs, str(spec)


#: sizes of ``torch.nn`` layers: traced as one node each, so a block's graph does not show them
_SIZES = frozenset(
    [
        "in_channels",
        "out_channels",
        "in_features",
        "out_features",
        "num_features",
        "normalized_shape",
        "num_channels",
        "num_embeddings",
        "embedding_dim",
        "embed_dim",
        "kdim",
        "vdim",
        "head_dim",
    ]
)
_MODULE_INTERNALS = frozenset(vars(nn.Module())) - {"training"}
_UNKNOWN = object()


def structure(block: nn.Module) -> tuple | None:
    """What the traced graph of ``block`` and an analysis of its module types depend on: for
    every module its name, class, own ``forward``, which tensors exist, and every attribute
    (nested lists and dicts of plain values too) except tensor shapes and the sizes of
    ``torch.nn`` layers, so the blocks of a stage, or of stages of different widths, share one
    analysis. None when an attribute is no plain value (it might steer ``forward``)."""
    parts = []
    for name, m in block.named_modules():
        leaf = type(m).__module__.startswith("torch.nn.modules")
        tensors = tuple((k, t is None) for k, t in (*m._parameters.items(), *m._buffers.items()))
        attrs = []
        for k, v in vars(m).items():
            if k in _MODULE_INTERNALS or (leaf and k in _SIZES):
                continue
            frozen = _freeze(v)
            if frozen is _UNKNOWN:
                return None
            attrs.append((k, frozen))
        own_forward = id(vars(m)["forward"]) if "forward" in vars(m) else None
        parts.append((name, type(m), own_forward, tensors, tuple(attrs)))
    return tuple(parts)


def _freeze(v: Any) -> Any:
    if isinstance(v, (*_PLAIN, type, torch.dtype, torch.device)):
        return v
    if isinstance(v, list | tuple):
        items = tuple(_freeze(x) for x in v)
        return _UNKNOWN if _UNKNOWN in items else (type(v), items)
    if isinstance(v, dict):
        items = tuple((k, _freeze(x)) for k, x in v.items())
        return _UNKNOWN if any(x is _UNKNOWN for _, x in items) else (type(v), items)
    if isinstance(v, types.FunctionType | types.BuiltinFunctionType):
        return v  # compared by identity, like the class of a module
    return _UNKNOWN


def shared_cache() -> dict:
    """A dict that :func:`clear_analysis_caches` empties with the others."""
    entries: dict = {}
    _CACHES.append(entries)
    return entries


def cached_analysis(fn: Callable[[nn.Module, Any], T]) -> Callable[[nn.Module, Any], T]:
    """Wrap ``fn(model, example_input)`` with a small cache (see the module docstring)."""
    entries: dict[int, tuple[weakref.ref, tuple, T]] = {}  # id(model) -> entry, oldest first
    _CACHES.append(entries)

    def wrapper(model: nn.Module, example_input: Any) -> T:
        key = signature(model, example_input)
        hit = entries.pop(id(model), None)
        if hit is not None and hit[0]() is model and hit[1] == key:
            entries[id(model)] = hit  # most recently used last
            return hit[2]
        value = fn(model, example_input)
        ident = id(model)

        def forget(ref: weakref.ref) -> None:
            if ident in entries and entries[ident][0] is ref:
                del entries[ident]

        entries[ident] = (weakref.ref(model, forget), key, value)
        while len(entries) > ENTRIES:
            del entries[next(iter(entries))]
        return value

    wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def clear_analysis_caches() -> None:
    """Forget every cached analysis (benchmarks measuring a cold start call this)."""
    for entries in _CACHES:
        entries.clear()
