"""Where an identity block can be inserted exactly: analysis behind ``depth_points``/``deepen``.

Two families of points, both found on torch.fx graphs (never by guessing from module names):

* ``conv`` / ``linear``: the output of an idempotent activation (ReLU, ReLU6, Hardtanh) that is
  called once. A new ``layer -> norm -> same activation`` block initialized to the identity
  reproduces that tensor exactly, because ``act(act(z)) == act(z)``. GELU, SiLU, tanh, ... are not
  idempotent, so after them no such block is exact and the point is refused.
* ``residual`` / ``transformer``: after a block inside an ``nn.Sequential`` whose traced forward is
  ``h = x; h = h + f_j(h) ...; out = [act](h)``. A copy of such a block with the last module of
  every branch zeroed is the identity (see :mod:`nas.net2net.depth.identity_blocks`).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..graph import CONVS, symbolic_trace, untouched
from ..graph.cache import cached_analysis
from .identity_blocks import act_signature
from .residual_blocks import BlockInfo, analyze_block, is_sequential_container
from .types import DepthPoint, PointAnalysis, Record, record_shapes

__all__ = ["DepthPoint", "PointAnalysis", "analyze"]

_IDEMPOTENT_MODULES = (nn.ReLU, nn.Hardtanh)  # nn.ReLU6 subclasses nn.Hardtanh
_IDEMPOTENT_FUNCS = {F.relu, torch.relu, torch.relu_, F.relu_, F.relu6}
_IDEMPOTENT_METHODS = {"relu", "relu_"}
_NOT_IDEMPOTENT_MODULES = (
    nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.Mish,
    nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.PReLU, nn.RReLU, nn.Softsign, nn.LogSigmoid,
    nn.Tanhshrink, nn.Softmax,
)  # fmt: skip
_NOT_IDEMPOTENT_FUNCS = {
    F.gelu, F.silu, torch.tanh, torch.sigmoid, F.leaky_relu, F.elu, F.selu, F.celu, F.mish,
    F.hardswish, F.hardsigmoid, F.softplus, F.prelu, torch.sigmoid, F.softmax,
}  # fmt: skip
_NOT_IDEMPOTENT_METHODS = {"tanh", "sigmoid", "softmax"}


def _is_idempotent(node: fx.Node, gm: fx.GraphModule) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), _IDEMPOTENT_MODULES)
    if node.op == "call_function":
        return node.target in _IDEMPOTENT_FUNCS
    return node.op == "call_method" and node.target in _IDEMPOTENT_METHODS


def _non_idempotent_name(node: fx.Node, gm: fx.GraphModule) -> str | None:
    """Name of a non-idempotent activation at ``node`` (None if it is not one)."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        return type(m).__name__ if isinstance(m, _NOT_IDEMPOTENT_MODULES) else None
    if node.op == "call_function" and node.target in _NOT_IDEMPOTENT_FUNCS:
        return getattr(node.target, "__name__", str(node.target))
    if node.op == "call_method" and node.target in _NOT_IDEMPOTENT_METHODS:
        return str(node.target)
    return None


def _layer_kind(node: fx.Node, gm: fx.GraphModule, ndim: int) -> tuple[str, int] | None:
    """("conv", spatial dims) or ("linear", 0): the layer type whose output reaches ``node``.

    Searches backwards (breadth first) for the nearest Conv or Linear module; falls back to the
    tensor rank (2 -> linear, 3-5 -> channels-first conv).
    """
    seen, queue = set(), deque([node])
    while queue:
        n = queue.popleft()
        if n in seen:
            continue
        seen.add(n)
        if n.op == "call_module":
            m = gm.get_submodule(n.target)
            if isinstance(m, CONVS):
                dims = m.weight.dim() - 2
                if ndim == dims + 2:
                    return "conv", dims
                break
            if isinstance(m, nn.Linear):
                return "linear", 0
        queue.extend(n.all_input_nodes)
    if ndim == 2:
        return "linear", 0
    if 3 <= ndim <= 5:
        return "conv", ndim - 2
    return None


def _activation_points(gm: fx.GraphModule, rec: dict[str, Record], out: PointAnalysis) -> None:
    """conv/linear points: outputs of idempotent activations; refusals for the other ones."""
    calls: dict[str, int] = {}
    for n in gm.graph.nodes:
        if n.op == "call_module":
            calls[n.target] = calls.get(n.target, 0) + 1
    for n in gm.graph.nodes:
        src = n.args[0] if n.args and isinstance(n.args[0], fx.Node) else None
        bad = _non_idempotent_name(n, gm)
        if bad is not None:
            reason = (
                f"{bad}, which is not idempotent (act(act(x)) != act(x)), so no identity "
                "conv/linear block is exact after it, and no residual insertion fits here"
            )
            if n.op == "call_module":
                out.refused[n.target] = f"'{n.target}' is the activation {reason}"
            if src is not None and src.op == "call_module":
                out.refused.setdefault(src.target, f"'{src.target}' is followed by {reason}")
            continue
        if not _is_idempotent(n, gm):
            continue
        if n.op == "call_module":
            name, prepend = n.target, False
            act = gm.get_submodule(name)
        elif src is not None and src.op == "call_module":
            name, prepend = src.target, True
            act = nn.ReLU6() if n.target is F.relu6 else nn.ReLU()
            if len(src.users) != 1:
                out.refused[name] = (
                    f"the output of '{name}' is used by {len(src.users)} nodes, only one of "
                    "which applies the activation"
                )
                continue
        else:
            continue
        if calls.get(name, 0) != 1 or rec.get(name, Record()).calls != 1:
            out.refused[name] = (
                f"module '{name}' is called {max(calls.get(name, 0), rec.get(name, Record()).calls)} "
                "times (shared), so a block inserted after it would change every call site"
            )
            continue
        shape = rec[name].out_shape
        kind = _layer_kind(n, gm, len(shape)) if shape else None
        if kind is None:
            out.refused[name] = f"the tensor after '{name}' has an unsupported shape {shape}"
            continue
        width = shape[1] if kind[0] == "conv" else shape[-1]
        out.points[name] = DepthPoint(
            name=name,
            kind=kind[0],
            width=width,
            shape=shape,
            spatial_dims=kind[1],
            activation=act_signature(act),
            prepend_activation=prepend,
        )


def _residual_points(
    model: nn.Module, gm: fx.GraphModule | None, rec: dict[str, Record], out: PointAnalysis
) -> None:
    """residual/transformer points: after any child of an nn.Sequential that holds a template.

    The template is the nearest block (the child itself first) that maps the child's output
    shape to itself with an identity shortcut; failing that, the nearest block with a
    projection shortcut and that output shape (rebuilt by :func:`template_copy`).
    """
    cache: dict[int, BlockInfo] = {}
    for cname, container in model.named_modules():
        if not is_sequential_container(container) or cname not in rec:
            continue
        prefix = f"{cname}." if cname else ""
        names = [prefix + k for k in container._modules]
        infos = []
        for name, b in zip(names, container._modules.values(), strict=True):
            if id(b) not in cache:
                cache[id(b)] = analyze_block(b, gm, name)
            infos.append(cache[id(b)])
        for i, name in enumerate(names):
            r = rec.get(name)
            if r is None or r.out_shape is None:
                continue
            order = sorted(range(len(names)), key=lambda j, i=i: (abs(j - i), j < i))
            why = infos[i].reason
            fits = [j for j in order if _fits(infos[j], rec.get(names[j]), r, plain=True)]
            fits += [j for j in order if _fits(infos[j], rec.get(names[j]), r, plain=False)]
            for j in fits:
                info = infos[j]
                if info.post_act and info.post_act != infos[i].out_act:
                    why = (
                        f"the residual block '{names[j]}' ends with {info.post_act}, which is "
                        f"the identity only on outputs of that activation, and '{name}' ends "
                        f"with {infos[i].out_act or 'something else'}"
                    )
                    continue
                out.points[name] = DepthPoint(
                    name=name,
                    kind="transformer" if info.transformer else "residual",
                    width=r.out_shape[-1] if info.transformer else r.out_shape[1],
                    shape=r.out_shape,
                    spatial_dims=0 if info.transformer else len(r.out_shape) - 2,
                    activation=info.post_act,
                    container=cname,
                    template=names[j],
                    zeroed=info.zeroed,
                    shortcut=info.shortcut,
                )
                break
            else:
                if why:
                    out.refused.setdefault(name, why)


def _fits(info: BlockInfo, rj: Record | None, r: Record, *, plain: bool) -> bool:
    """Can the block described by (info, rj) follow the block recorded in ``r`` as identity?"""
    if rj is None or rj.out_shape != r.out_shape:
        return False
    if plain:
        return info.ok and rj.in_shape == r.out_shape
    return bool(info.shortcut) and not info.transformer


@cached_analysis
def analyze(model: nn.Module, example_input: Any) -> PointAnalysis:
    """Find every depth point of ``model`` (and the reasons for refusing other modules); the
    model is left exactly as it was (see ``untouched``)."""
    with untouched(model):
        return _analyze(model, example_input)


def _analyze(model: nn.Module, example_input: Any) -> PointAnalysis:
    out = PointAnalysis(module_types={n: type(m).__name__ for n, m in model.named_modules()})
    rec = record_shapes(model, example_input)
    gm = None
    try:
        gm = symbolic_trace(model)
    except Exception as e:  # any tracing failure just means: no activation points
        out.refused[""] = f"torch.fx cannot trace the model ({type(e).__name__}: {e})"
    else:
        _activation_points(gm, rec, out)
    _residual_points(model, gm, rec, out)
    for name in list(out.refused):
        if name in out.points:
            del out.refused[name]
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    out.points = dict(sorted(out.points.items(), key=lambda kv: order.get(kv[0], -1)))
    return out
