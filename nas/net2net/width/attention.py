"""Attention on a widened residual stream (HyperCloning-style, exact): ``nn.MultiheadAttention``
and torchvision's Swin window attention (v1 and v2).

Self-attention reads the stream (the columns of its q/k/v projection) and writes to it (the rows
of its output projection), and its inner width equals the stream's. Widening the stream ``k``
times therefore grows the inner width ``k`` times too, by whole copies of the heads
(``num_heads`` x k, ``head_dim`` kept, so the softmax scale is unchanged): new head
``h + r * H`` has head ``h``'s query, key and value rows and per-head tensors (relative position
bias, logit scale), sees the same logits, and its output columns are divided by ``k``. So the
stream must grow by a multiple of its width (a tile), as every LayerNorm on it asks anyway.
Cross-attention (key / value from another tensor) and separate ``kdim`` / ``vdim`` projections
are refused.
"""

from __future__ import annotations

import inspect
from typing import ClassVar

import torch
from torch import nn

from .handlers import ParamDims, ProducerHandler, register_handler
from .remap import Mapping, exact, replace

__all__ = ["AttentionHandler", "MultiheadAttentionHandler", "WindowAttentionHandler"]


def _take(owner: nn.Module, pname: str, dim: int, index: torch.Tensor, mapping: Mapping, key: str):
    t = getattr(owner, pname, None)
    if t is not None:
        replace(owner, pname, exact(t).index_select(dim, index.to(t.device)))
        mapping.setdefault(key, []).append((dim, index))


class AttentionHandler(ProducerHandler):
    """Self-attention: a producer of the stream that grows by whole copies of its heads.

    Subclasses say where the projections are (``qkv`` rows [q; k; v], ``out`` a Linear) and
    which tensors hold one entry per head."""

    kind = "attention"
    tile = True
    reason = "attention grows by whole copies of its heads"
    #: called as ``m(x)`` (True) or ``m(query, key, value, ...)`` returning (out, weights)
    single_input: ClassVar[bool] = False

    def in_axis(self, m: nn.Module, x: torch.Tensor) -> int:
        return x.ndim - 1

    def out_axis(self, m: nn.Module, y: torch.Tensor) -> int:
        return y.ndim - 1

    def refusal(self, m: nn.Module) -> str:
        """Why this module cannot be widened at all ('' when it can)."""
        return ""

    def bind(self, m: nn.Module, args: tuple, kwargs: dict) -> dict:
        """The call's arguments by name, defaults applied."""
        a = inspect.signature(m.forward).bind(*args, **kwargs)
        a.apply_defaults()
        return dict(a.arguments)

    def heads(self, m: nn.Module) -> int:
        return m.num_heads

    def projections(self, m: nn.Module) -> tuple[nn.Module, str, str, nn.Linear]:
        """(owner of the q/k/v weight, its weight name, its bias name, output Linear)."""
        raise NotImplementedError

    def per_head(self, m: nn.Module) -> list[tuple[nn.Module, str, int, str]]:
        """Tensors with one entry per head: (owner, name, dim, mapping key suffix)."""
        return []

    def copy_rows(self, m: nn.Module, name: str, L: torch.Tensor, mapping: Mapping) -> None:
        """Rows of the output projection follow the stream layout ``L``; the inner units (q, k,
        v rows, the output projection's columns, divided among their copies) and the per-head
        tensors follow whole copies of heads."""
        owner, wname, bname, out = self.projections(m)
        old, new = out.out_features, len(L)
        inner = torch.arange(new) % old
        qkv = torch.cat([inner + i * old for i in range(3)])
        p = f"{name}." if name else ""
        q = p + "".join(f"{n}." for n, mod in m.named_modules() if mod is owner and n)
        _take(owner, wname, 0, qkv, mapping, f"{q}{wname}")
        _take(owner, bname, 0, qkv, mapping, f"{q}{bname}")
        heads = torch.arange(self.heads(m) * new // old) % self.heads(m)
        for mod, pname, dim, key in self.per_head(m):
            _take(mod, pname, dim, heads, mapping, p + key)
        o = p + next(n for n, mod in m.named_modules() if mod is out)
        _take(out, "weight", 0, L, mapping, f"{o}.weight")
        _take(out, "weight", 1, inner, mapping, f"{o}.weight")
        out.weight.data *= old / new
        _take(out, "bias", 0, L, mapping, f"{o}.bias")
        out.in_features = out.out_features = new
        if isinstance(owner, nn.Linear):
            owner.out_features = 3 * new
        m.num_heads = len(heads)
        self.resized(m, new)

    def resized(self, m: nn.Module, width: int) -> None:
        """Set the module's own size attributes after its rows grew to ``width``."""

    def resize(self, m: nn.Module, out: int | None, inp: int | None) -> None:
        if inp is not None:
            owner = self.projections(m)[0]
            if isinstance(owner, nn.Linear):
                owner.in_features = inp


@register_handler(nn.MultiheadAttention)
class MultiheadAttentionHandler(AttentionHandler):
    def width(self, m: nn.Module) -> int:
        return m.embed_dim

    def params(self, m: nn.Module) -> ParamDims:
        return {"in_proj_weight": {"in": 1}}

    def refusal(self, m: nn.Module) -> str:
        if not m._qkv_same_embed_dim:
            return "separate key / value projections (kdim, vdim) are not widened"
        return ""

    def projections(self, m: nn.Module) -> tuple[nn.Module, str, str, nn.Linear]:
        return m, "in_proj_weight", "in_proj_bias", m.out_proj

    def per_head(self, m: nn.Module) -> list[tuple[nn.Module, str, int, str]]:
        return []

    def copy_rows(self, m: nn.Module, name: str, L: torch.Tensor, mapping: Mapping) -> None:
        old = m.embed_dim
        super().copy_rows(m, name, L, mapping)
        inner = torch.arange(len(L)) % old  # bias_k / bias_v: one entry per inner unit
        for b in ("bias_k", "bias_v"):
            _take(m, b, 2, inner, mapping, f"{name}.{b}" if name else b)

    def resized(self, m: nn.Module, width: int) -> None:
        m.embed_dim = m.kdim = m.vdim = width
        m.head_dim = width // m.num_heads


@register_handler(
    "torchvision.models.swin_transformer.ShiftedWindowAttention",
    "torchvision.models.swin_transformer.ShiftedWindowAttentionV2",
)
class WindowAttentionHandler(AttentionHandler):
    """torchvision's Swin attention: ``qkv`` and ``proj`` Linears, a relative position bias per
    head (a table in v1; in v2 a small MLP's last layer and a logit scale per head)."""

    single_input = True

    def width(self, m: nn.Module) -> int:
        return m.proj.out_features

    def params(self, m: nn.Module) -> ParamDims:
        return {"qkv.weight": {"in": 1}}

    def projections(self, m: nn.Module) -> tuple[nn.Module, str, str, nn.Linear]:
        return m.qkv, "weight", "bias", m.proj

    def per_head(self, m: nn.Module) -> list[tuple[nn.Module, str, int, str]]:
        if hasattr(m, "cpb_mlp"):
            last = len(m.cpb_mlp) - 1
            return [
                (m, "logit_scale", 0, "logit_scale"),
                (m.cpb_mlp[last], "weight", 0, f"cpb_mlp.{last}.weight"),
                (m.cpb_mlp[last], "bias", 0, f"cpb_mlp.{last}.bias"),
            ]
        return [(m, "relative_position_bias_table", 1, "relative_position_bias_table")]

    def resized(self, m: nn.Module, width: int) -> None:
        if hasattr(m, "cpb_mlp"):
            m.cpb_mlp[len(m.cpb_mlp) - 1].out_features = m.num_heads
