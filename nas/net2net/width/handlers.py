"""Per-module-type handlers: how a layer reads and produces units, and how to resize it.

A handler is a small class; one instance serves every module of the types it is registered for
(subclasses included). Three kinds:

- :class:`ProducerHandler` (Linear, Conv, Embedding): emits one new unit per output row; its
  input columns are read units (it is a *consumer* of the group before it).
- :class:`ChannelHandler` (norms, PReLU, depthwise conv): per-channel, its output units are its
  input units; its per-channel parameters are copied along with them.
- :class:`OpaqueHandler`: known, but refused with a reason.

Make a new module type widenable by subclassing one of them and registering it::

    @register_handler(ChannelScale)
    class ChannelScaleHandler(ChannelHandler):
        def params(self, m):  # gain[c] belongs to unit c
            return {"gain": {"chan": 0}}

        def resize(self, m, out, inp):  # keep the module's own record of its size true
            m.channels = inp

Registering also makes torch.fx keep calls of exactly those types as one node (it traces into
the ``forward`` of modules outside ``torch.nn`` otherwise), so the handler sees every call.
The handlers of torch.nn's layers are in ``nn_handlers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

import torch
from torch import nn

from ..graph import keep_whole

__all__ = [
    "HANDLERS",
    "ChannelHandler",
    "Handler",
    "OpaqueHandler",
    "ProducerHandler",
    "handler_for",
    "register_handler",
]

#: parameter name -> {role: dim}; role ``out`` (rows: one per produced unit), ``in`` (columns:
#: one per read unit) or ``chan`` (one per carried unit)
ParamDims = dict[str, dict[str, int]]


class Handler:
    """How modules of one type take part in widening. Subclass one of the three kinds below.

    Every method gets the module ``m``; tensors passed in are meta tensors (shapes only).
    """

    kind: ClassVar[str] = "opaque"
    #: normalizes across its units: exact only when every unit is replicated equally
    tile: ClassVar[bool] = False
    #: why an opaque module is refused, or what a ``tile`` module does to its units
    reason: ClassVar[str] = ""

    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int | None:
        """Axis of the input ``x`` along which the module reads units (None: none per unit)."""
        return None

    def out_axis(self, m: nn.Module, y: torch.Tensor) -> int:
        """Axis of the output ``y`` along which a producer emits its units."""
        return 1

    def meta_output(self, m: nn.Module, x: torch.Tensor, width: int) -> torch.Tensor:
        """The output for input ``x`` when the module has ``width`` units (a meta tensor)."""
        return x

    def width(self, m: nn.Module) -> int:
        """A producer's number of units."""
        return 0

    def params(self, m: nn.Module) -> ParamDims:
        """Which dimension of each parameter / buffer holds units, by role (see ``ParamDims``)."""
        return {}

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        """Set the module's size attributes after its ``out`` rows or ``inp`` columns /
        channels changed (None: unchanged); the tensors themselves are already replaced."""

    def groups(self, m: nn.Module) -> int:
        """Into how many blocks a grouped layer splits its units (each block grows equally)."""
        return 1

    def for_module(self, m: nn.Module) -> Handler:
        """The handler for this very module (a conv with groups == channels is per-channel)."""
        return self


class ProducerHandler(Handler):
    """Emits new units (rows ``out`` of its parameters) and reads units (columns ``in``)."""

    kind = "producer"


class ChannelHandler(Handler):
    """Per-channel: carries its input units to its output; parameters ``chan`` follow them."""

    kind = "channel"

    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int | None:
        return 1 if x.ndim > 1 else 0  # channels first; unbatched 1D input: axis 0


class OpaqueHandler(Handler):
    """Known and refused: the units it touches cannot be widened (``reason`` says why)."""


HANDLERS: dict[type[nn.Module] | str, Handler] = {}

H = TypeVar("H", bound=type[Handler])


def register_handler(*types: type[nn.Module] | str) -> Callable[[H], H]:
    """Class decorator: widen modules of ``types`` (and their subclasses) with this handler.

    A type may be named ``"package.module.Class"`` (registering then imports nothing). Calls of
    modules of exactly these types are traced as single nodes from then on.
    """

    def deco(cls: H) -> H:
        handler = cls()
        for t in types:
            HANDLERS[t] = handler
        keep_whole(*types)
        return cls

    return deco


def handler_for(m: nn.Module) -> Handler | None:
    """The handler of ``m``'s type (nearest registered base class), or None."""
    for cls in type(m).__mro__:
        h = HANDLERS.get(cls) or HANDLERS.get(f"{cls.__module__}.{cls.__qualname__}")
        if h is not None:
            return h.for_module(m)
    return None
