"""Name -> factory registry (timm style), JSON model specs, and torchvision models by name.

A model is fully described by ``{"name": ..., "kwargs": {...}}`` plus the data set's input
shape and class count, so a candidate is rebuilt from JSON, never from a pickle.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from nas.models import _checks

ModelFactory = Callable[..., nn.Module]

MODELS: dict[str, ModelFactory] = {}
"""Registered factories. Each takes ``input_shape``, ``num_classes`` and keyword options."""

TV_PREFIX = "tv:"
_CALLER_ARGS = ("input_shape", "num_classes")


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator adding a factory to :data:`MODELS` under ``name``.

    The factory must accept keyword-only ``input_shape`` and ``num_classes``; its other keyword
    arguments (with JSON-friendly defaults) become the model's spec options.
    """
    if not isinstance(name, str) or not name or name.startswith(TV_PREFIX):
        raise ValueError(f"model: cannot register {name!r}; use a non-empty name without 'tv:'")

    def decorator(factory: ModelFactory) -> ModelFactory:
        if name in MODELS and MODELS[name] is not factory:
            raise ValueError(f"model: {name!r} is already registered")
        MODELS[name] = factory
        return factory

    return decorator


def list_models() -> list[str]:
    """Registered model names, sorted (torchvision models are reachable as ``tv:<name>``)."""
    return sorted(MODELS)


def _unknown(name: Any) -> ValueError:
    return ValueError(
        f"model: unknown model name {name!r}; choose one of: {', '.join(list_models())}, "
        f"or {TV_PREFIX}<torchvision name> (e.g. {TV_PREFIX}resnet18)"
    )


def _factory(name: Any) -> ModelFactory:
    if isinstance(name, str) and name.startswith(TV_PREFIX):
        from nas.models.tv import torchvision_model  # imports torchvision: only when asked

        return torchvision_model
    if not isinstance(name, str) or name not in MODELS:
        raise _unknown(name)
    return MODELS[name]


def _options(name: str, factory: ModelFactory) -> dict[str, inspect.Parameter]:
    params = inspect.signature(factory).parameters
    return {
        k: p
        for k, p in params.items()
        if k not in _CALLER_ARGS and p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def _check_kwargs(name: str, factory: ModelFactory, kwargs: Mapping[str, Any]) -> None:
    if name.startswith(TV_PREFIX):
        return  # passed on to torchvision, which names its own options
    options = _options(name, factory)
    for key in kwargs:
        if key in _CALLER_ARGS:
            raise ValueError(f"model {name}: {key} is given by the caller, not in the options")
        if key not in options:
            raise ValueError(
                f"model {name}: unknown option {key!r}; allowed: {', '.join(options) or 'none'}"
            )


def create_model(
    name: str, *, input_shape: Sequence[int], num_classes: int, **kwargs: Any
) -> nn.Module:
    """Build model ``name`` for examples of ``input_shape`` (channels first) and ``num_classes``.

    Args:
        name: A key of :data:`MODELS` or ``tv:<torchvision classification model>``.
        input_shape: Shape of one example, e.g. ``(1, 40)`` or ``(3, 32, 32)``.
        num_classes: Number of output logits.
        **kwargs: The model's options (see its factory); lists may be any sequence.

    Raises:
        ValueError: unknown name or option, or a bad value (one line naming the field).
    """
    factory = _factory(name)
    _check_kwargs(name, factory, kwargs)
    shape = _checks.input_shape(name, input_shape, None, "a list")
    classes = _checks.positive_int(name, "num_classes", num_classes)
    if name.startswith(TV_PREFIX):
        return factory(name[len(TV_PREFIX) :], input_shape=shape, num_classes=classes, **kwargs)
    return factory(input_shape=shape, num_classes=classes, **_plain(kwargs))


def _plain(value: Any) -> Any:
    """Mappings -> dict, sequences -> list (recursively); Hydra containers included."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value


def model_spec(name: str, **kwargs: Any) -> dict[str, Any]:
    """The JSON-serializable description ``{"name": name, "kwargs": {...}}`` of a model.

    Options left out are filled in with the factory's defaults, so the spec keeps meaning the
    same model if a default changes later. Build it back with :func:`build_from_spec`.

    Raises:
        ValueError: unknown name or option, or a value JSON cannot hold.
    """
    factory = _factory(name)
    _check_kwargs(name, factory, kwargs)
    full: dict[str, Any] = {}
    if not name.startswith(TV_PREFIX):
        for key, param in _options(name, factory).items():
            if param.default is not inspect.Parameter.empty:
                full[key] = param.default
    full.update(kwargs)
    spec = {"name": name, "kwargs": _plain(full)}
    try:
        json.dumps(spec)
    except (TypeError, ValueError) as err:
        raise ValueError(f"model {name}: options must be JSON values ({err})") from err
    return spec


def build_from_spec(
    spec: Mapping[str, Any], *, input_shape: Sequence[int], num_classes: int
) -> nn.Module:
    """Build the model that :func:`model_spec` described (e.g. after a JSON round trip)."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
        raise ValueError(f"model: spec must be a mapping with a 'name' string, got {spec!r}")
    kwargs = spec.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"model {spec['name']}: spec 'kwargs' must be a mapping, got {kwargs!r}")
    return create_model(
        spec["name"], input_shape=input_shape, num_classes=num_classes, **dict(kwargs)
    )
