"""Human-readable and JSON summaries of a model's widths and depth, and of what a transform changed.

``architecture`` is the JSON-able record a search logs per candidate; ``summarize`` prints it as
a table; ``describe_change`` compares parent and child layer by layer. Layers are the leaf
modules that own parameters (MultiheadAttention counts as one layer), in execution order.
Depth is the number of weight layers (Conv, Linear, attention, embedding) on the longest path of
the traced graph, which is how ResNet-18 gets its 18; without a trace it is their count.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import fx, nn

from .graph import WEIGHT_LAYERS, call_model, in_mode, symbolic_trace

__all__ = ["architecture", "describe_change", "summarize"]


def _is_layer(m: nn.Module) -> bool:
    own = any(True for _ in m.parameters(recurse=False))
    return isinstance(m, nn.MultiheadAttention) or (own and not m._modules)


def _widths(m: nn.Module) -> tuple[int | None, int | None]:
    """(input width, output width) of a layer, from its configuration."""
    for a, b in (("in_channels", "out_channels"), ("in_features", "out_features")):
        if hasattr(m, a):
            return getattr(m, a), getattr(m, b)
    if isinstance(m, nn.Embedding):
        return m.num_embeddings, m.embedding_dim
    if isinstance(m, nn.MultiheadAttention):
        return m.embed_dim, m.embed_dim
    for a in ("num_features", "num_channels"):
        if hasattr(m, a):
            return getattr(m, a), getattr(m, a)
    if isinstance(m, nn.LayerNorm):
        return m.normalized_shape[-1], m.normalized_shape[-1]
    return None, None


def _layers(model: nn.Module, example_input: Any) -> list[tuple[str, nn.Module]]:
    """Layers in the order a forward pass first calls them (uncalled ones at the end)."""
    layers = {}
    for name, m in model.named_modules():
        if _is_layer(m) and not any(name.startswith(k + ".") for k in layers):
            layers[name] = m
    order: list[str] = []
    handles = [
        m.register_forward_hook(lambda *_a, n=n: order.append(n) if n not in order else None)
        for n, m in layers.items()
    ]
    try:
        with in_mode(model), torch.no_grad():
            call_model(model, example_input)
    finally:
        for h in handles:
            h.remove()
    order += [n for n in layers if n not in order]
    return [(n, layers[n]) for n in order]


def _depth(model: nn.Module, fallback: int) -> int:
    """Weight layers on the longest path of the fx graph (``fallback`` if it does not trace)."""
    try:
        gm = symbolic_trace(model)
    except Exception:
        return fallback
    depth: dict[fx.Node, int] = {}
    for n in gm.graph.nodes:
        d = max((depth[i] for i in n.all_input_nodes), default=0)
        is_w = n.op == "call_module" and isinstance(gm.get_submodule(n.target), WEIGHT_LAYERS)
        depth[n] = d + int(is_w)
        if n.op == "output":
            return depth[n]
    return fallback


def _width_groups(model: nn.Module, example_input: Any) -> dict[str, int]:
    """Width per width group, when the widening engine is available (it is optional here)."""
    try:
        from .width.wider import width_groups
    except ImportError:
        return {}
    try:
        return {g.name: int(g.width) for g in width_groups(model, example_input)}
    except Exception:
        return {}


def architecture(model: nn.Module, example_input: Any) -> dict[str, Any]:
    """JSON-able description: class, params, depth, width groups and the layer list."""
    layers = _layers(model, example_input)
    rows = []
    for name, m in layers:
        w_in, w_out = _widths(m)
        row = {"name": name, "type": type(m).__name__, "in": w_in, "out": w_out}
        if isinstance(getattr(m, "kernel_size", None), tuple):
            row["kernel"] = list(m.kernel_size)
        row["params"] = sum(p.numel() for p in m.parameters())
        rows.append(row)
    n_weight = sum(isinstance(m, WEIGHT_LAYERS) for _, m in layers)
    return {
        "class": type(model).__name__,
        "params": sum(p.numel() for p in model.parameters()),
        "depth": _depth(model, n_weight),
        "weight_layers": n_weight,
        "widths": _width_groups(model, example_input),
        "layers": rows,
    }


def _table(rows: list[list[str]]) -> list[str]:
    cols = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, cols, strict=True)).rstrip() for r in rows
    ]


def summarize(model: nn.Module, example_input: Any) -> str:
    """A table of the model's layers (type, widths, params), width groups, depth and size."""
    arch = architecture(model, example_input)
    lines = [
        f"{arch['class']}: {arch['params']:,} parameters, depth {arch['depth']} "
        f"({arch['weight_layers']} weight layers)"
    ]
    if arch["widths"]:
        lines.append("width groups:")
        lines += _table([["group", "width"]] + [[k, str(v)] for k, v in arch["widths"].items()])
    lines.append("layers:")
    body = [["layer", "type", "in -> out", "params"]]
    for r in arch["layers"]:
        kernel = "x".join(map(str, r["kernel"])) if "kernel" in r else ""
        body.append([r["name"], f"{r['type']} {kernel}".strip(), f"{r['in']} -> {r['out']}",
                     f"{r['params']:,}"])  # fmt: skip
    return "\n".join(lines + _table(body))


def _fingerprint(m: nn.Module) -> str:
    h = hashlib.sha1(type(m).__name__.encode())
    for k, t in m.state_dict().items():
        h.update(k.encode() + str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _match(old: list[tuple[str, nn.Module]], new: list[tuple[str, nn.Module]]):
    """Pair parent and child layers: same name and content, then moved content, then same name."""
    fo = {n: _fingerprint(m) for n, m in old}
    fn = {n: _fingerprint(m) for n, m in new}
    left_old, left_new = dict(old), dict(new)
    same, moved, changed = [], [], []
    for n in list(left_old):
        if n in left_new and fo[n] == fn[n]:
            same.append(n)
            del left_old[n], left_new[n]
    for n in list(left_old):
        hits = [c for c in left_new if fn[c] == fo[n]]  # same attribute name first
        hit = min(hits, key=lambda c: c.rsplit(".", 1)[-1] != n.rsplit(".", 1)[-1], default=None)
        if hit is not None:
            moved.append((n, hit))
            del left_old[n], left_new[hit]
    for n in list(left_old):
        if n in left_new and type(left_new[n]) is type(left_old[n]):
            changed.append(n)
            del left_old[n], left_new[n]
    return same, moved, changed, list(left_new), list(left_old)


def describe_change(parent: nn.Module, child: nn.Module, example_input: Any) -> str:
    """What a transform changed: layers that grew, were inserted, moved or removed; params."""
    old, new = _layers(parent, example_input), _layers(child, example_input)
    a, b = architecture(parent, example_input), architecture(child, example_input)
    same, moved, changed, inserted, removed = _match(old, new)
    om, nm = dict(old), dict(new)
    delta = b["params"] - a["params"]
    pct = f" ({delta / a['params']:+.1%})" if a["params"] else ""
    lines = [
        f"params {a['params']:,} -> {b['params']:,}{pct}; depth {a['depth']} -> {b['depth']}; "
        f"weight layers {a['weight_layers']} -> {b['weight_layers']}"
    ]
    for n in changed:
        (i0, o0), (i1, o1) = _widths(om[n]), _widths(nm[n])
        parts = [f"in {i0} -> {i1}"] if i0 != i1 else []
        parts += [f"out {o0} -> {o1}"] if o0 != o1 else []
        lines.append(f"grew: {n} ({type(nm[n]).__name__}) {', '.join(parts) or 'weights changed'}")
    groups: dict[str, list[str]] = {}
    for n in inserted:
        i, o = _widths(nm[n])
        parent_name, _, leaf = n.rpartition(".")
        groups.setdefault(parent_name, []).append(f"{leaf} ({type(nm[n]).__name__} {i} -> {o})")
    for g, items in groups.items():
        lines.append(f"inserted: {g + ': ' if g else ''}{', '.join(items)}")
    if moved:
        pairs = ", ".join(f"{o} -> {c}" for o, c in moved[:4]) + (", ..." if len(moved) > 4 else "")
        lines.append(f"moved (renamed by an insertion): {len(moved)} layers: {pairs}")
    lines += [f"removed: {n} ({type(om[n]).__name__})" for n in removed]
    lines.append(f"unchanged: {len(same)} layers")
    return "\n".join(lines)
