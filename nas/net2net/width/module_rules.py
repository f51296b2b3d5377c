"""How a module call of the traced graph treats channel tags.

A module with a handler (``handlers``) reads units along its input axis and, if it is a
producer, emits new ones; a parameterless module (ReLU, Flatten, pooling, ...) is the op it
stands for (``op_rules``); anything else refuses the units it touches, with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import fx, nn
from torch.func import functional_call

from .handlers import Handler, handler_for
from .op_rules import call_function
from .ops import MODULE_KINDS
from .record import Propagation
from .tags import TV, atoms, metas, tagged, to_meta, wrap

__all__ = ["ModuleCalls"]

#: ``emit(name, width, first_atom)``: the ids a producer emits (default: its atoms in order)
Emit = Callable[[str, int, int], torch.Tensor]


class ModuleCalls:
    """The ``call_module`` rule of one pass.

    ``widths`` overrides producers' widths and ``emit`` the ids they emit (the widened pass).
    """

    def __init__(
        self, rec: Propagation, root: nn.Module, widths: dict[str, int], emit: Emit | None
    ) -> None:
        self.rec, self.widths, self.emit = rec, widths, emit
        self.modules = dict(root.named_modules())

    def __call__(self, node: fx.Node, args: tuple, kwargs: dict) -> Any:
        name = str(node.target)
        m = self.modules[name]
        self.rec.order.append(name)
        h = handler_for(m)
        x = args[0] if args else None
        what = f"'{name}' ({type(m).__name__})"
        if h is not None and h.kind == "attention":
            return self._attention(name, m, h, args, kwargs, what)
        if h is not None and h.kind in ("producer", "channel") and isinstance(x, TV):
            if len(tagged((args[1:], kwargs))):
                self.rec.block(tagged((args, kwargs)), f"{what} is called with several tensors")
                return wrap(_meta_call(m, args, kwargs))
            if h.kind == "producer":
                return self._producer(name, m, h, x, what)
            return self._channel(name, m, h, x, what)
        kind = MODULE_KINDS.get(type(m))
        if kind == "along":  # nn.Softmax and friends: the dim is an attribute
            kwargs = {**kwargs, "dim": m.dim}
        if kind is not None and not any(True for _ in m.parameters()):
            fn = (lambda *a, dim=None, **k: m(*a, **k)) if kind == "along" else m
            if kind == "elementwise" and isinstance(x, TV) and len(args) == 1 and not kwargs:
                fn = torch.empty_like  # same shape and dtype; meta ReLU6 alone costs ~3 ms
            return call_function(self.rec, node, kind, fn, args, kwargs, type(m).__name__.lower())
        if h is not None and h.kind == "opaque":
            reason = f"{what}: {h.reason}"
        else:
            reason = f"{what} is not understood by the width analysis (register a handler: "
            "nas.net2net.register_handler)"
        self.rec.block(tagged((args, kwargs)), reason)
        return wrap(_meta_call(m, args, kwargs))

    def _producer(self, name: str, m: nn.Module, h: Handler, x: TV, what: str) -> TV:
        """Reads the input's units (a consumer, if tagged) and emits one id per output unit."""
        rec = self.rec
        in_axis = h.in_axis(m, x.meta)
        if _is_tagged(x) and rec.single_axis(x, in_axis, what):
            use = rec.read(rec.consumers, name, in_axis, x)
            if h.groups(m) > 1:
                rec.grouped.append((use.ids, name, h.groups(m)))
        width = self.widths.get(name, h.width(m))
        out = h.meta_output(m, x.meta, width)
        shape = [1] * out.ndim
        shape[h.out_axis(m, out)] = width
        first = rec.first_atom(name, width)
        ids = self.emit(name, width, first) if self.emit else torch.arange(width) + first
        ids = ids.reshape(shape)
        if width == 1:  # nothing marks a size-1 axis as the unit axis: refuse, not guess
            rec.block([TV(out, ids)], f"{what} has a single unit")
        if h.groups(m) > 1:
            rec.grouped.append((ids.reshape(-1), name, h.groups(m)))
        return TV(out, ids)

    def _attention(
        self, name: str, m: nn.Module, h: Handler, args: tuple, kwargs: dict, what: str
    ) -> Any:
        """Self-attention (``attention``): reads the stream along its last axis like a Linear
        and writes new units (its ``out_proj`` rows) that grow only by whole copies."""
        rec = self.rec
        if h.single_input:
            q = k = v = args[0]
            a = {"need_weights": False}
        else:
            a = h.bind(m, args, kwargs)
            q, k, v = (a[n] for n in ("query", "key", "value"))
        others = [t for t in tagged(a) if t is not q and t.ids is not None]
        cross = [t for t in (k, v) if t is not q and not _same_ids(t, q)]
        reason = h.refusal(m) or (
            f"{what} attends to another tensor (cross-attention is not widened)"
            if any(t.ids is not None for t in cross) or (cross and q.ids is not None)
            else ""
        )
        masks = [t for t in others if t is not k and t is not v]
        if masks:  # a mask is not per unit: units reaching one are refused, the call is not
            rec.block(masks, f"{what} is called with a mask that carries units")
        if reason:
            rec.block(tagged((args, kwargs)), reason)
            return wrap(_meta_call(m, args, kwargs))
        width = self.widths.get(name, h.width(m))
        out = torch.empty((*q.meta.shape[:-1], width), dtype=q.meta.dtype, device="meta")
        first = rec.first_atom(name, width)
        ids = self.emit(name, width, first) if self.emit else torch.arange(width) + first
        if _is_tagged(q) and rec.single_axis(q, q.meta.ndim - 1, what):
            use = rec.read(rec.consumers, name, q.meta.ndim - 1, q)
            if len(use.ids) == width:  # the input's width is the inner (and output) width:
                rec.unions.add(use.ids, ids)  # they grow together (the same units in a ViT)
        ids = ids.reshape([1] * (out.ndim - 1) + [width])
        if width == 1:
            rec.block([TV(out, ids)], f"{what} has a single unit")
        rec.tiles.append((atoms(ids), f"{what}: {h.reason}", 1))
        if h.single_input:
            return TV(out, ids)
        weights = None
        if a["need_weights"]:
            weights = TV(_attention_weights(m, q.meta, k.meta, width, a))
        return TV(out, ids), weights

    def _channel(self, name: str, m: nn.Module, h: Handler, x: TV, what: str) -> TV:
        """Carries the input's units; a norm across them asks for equal replication."""
        in_axis = h.in_axis(m, x.meta)
        out = h.meta_output(m, x.meta, x.meta.shape[in_axis] if in_axis is not None else 0)
        if not _is_tagged(x):
            return TV(out, None)
        if in_axis is None:
            if h.tile or h.params(m):
                self.rec.block([x], f"{what} normalizes over several axes that carry units")
            return TV(out, x.ids)
        if self.rec.single_axis(x, in_axis, what):
            self.rec.read(self.rec.channels, name, in_axis, x)
            if h.tile:
                self.rec.tiles.append((atoms(x.ids), f"{what} {h.reason}", h.groups(m)))
        return TV(out, x.ids)


def _same_ids(a: Any, b: Any) -> bool:
    if not isinstance(a, TV) or not isinstance(b, TV) or a.meta.shape != b.meta.shape:
        return False
    if a.ids is None or b.ids is None:
        return a.ids is None and b.ids is None
    return torch.equal(a.full_ids(), b.full_ids())


def _attention_weights(
    m: nn.Module, q: torch.Tensor, k: torch.Tensor, width: int, a: dict
) -> torch.Tensor:
    """The attention weights' shape (heads grow with the width, whole copies)."""
    seq = 1 if m.batch_first and q.ndim == 3 else 0
    tgt, src = q.shape[seq], k.shape[seq] + (m.bias_k is not None) + int(m.add_zero_attn)
    heads = m.num_heads * width // m.embed_dim
    shape = (tgt, src) if a["average_attn_weights"] else (heads, tgt, src)
    if q.ndim == 3:
        shape = (q.shape[1 - seq], *shape)
    return torch.empty(shape, dtype=q.dtype, device="meta")


def _is_tagged(x: TV) -> bool:
    return x.ids is not None and bool((x.ids != 0).any())


def _meta_call(m: nn.Module, args: tuple, kwargs: dict) -> Any:
    """The module's output on meta tensors (for modules the analysis does not follow)."""
    state = {k: to_meta(v) for k, v in (*m.named_parameters(), *m.named_buffers())}
    return functional_call(m, state, metas(args), metas(kwargs))
