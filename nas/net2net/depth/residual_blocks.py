"""Residual and transformer blocks: when a zeroed copy of a block is exactly the identity.

A block ``h = x; h = h + f_1(h); ...; out = [act](h)`` (post-activation ResNet blocks, pre-norm
transformer blocks) becomes the identity when the last module of every branch ``f_j`` outputs
exactly zero: BN/LayerNorm affine or Linear/Conv weight and bias, MultiheadAttention's out_proj,
or a layer-scale parameter. Zero branches add exactly 0, in eval AND train mode; a trailing
``act`` must be idempotent (it sees the previous block's output, which ``act`` produced).
A block with a projection shortcut ``f(x) + S(x)`` (downsample) can still serve as a template:
``S`` becomes ``nn.Identity``, every conv gets stride 1, and the convs reading ``x`` are rebuilt
with the block's output channels (fresh, seeded init; the zeroed branch end hides them).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..graph import PLAIN_CONVS, block_graph, symbolic_trace
from ..graph.cache import shared_cache, structure
from ..graph.clone import clone_module
from ..width.attention import AttentionHandler
from ..width.handlers import handler_for
from .identity_blocks import act_signature, node_activation

__all__ = ["BlockInfo", "analyze_block", "is_sequential_container", "template_copy"]

_ADD_FUNCS = {operator.add, operator.iadd, torch.add}
_ADD_METHODS = {"add", "add_"}
_MUL_FUNCS = {operator.mul, operator.imul, torch.mul}
# Ops that map an all-zero input to an all-zero output (so zeroing before them zeroes the branch).
_ZERO_KEEPING_FUNCS = {F.dropout, torch.permute, torch.flatten, torch.reshape, torch.transpose}
_ZERO_KEEPING_METHODS = {"permute", "reshape", "view", "transpose", "contiguous", "flatten"}
_ZERO_KEEPING_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity)
_ZEROABLE = (nn.Linear, *PLAIN_CONVS, nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def is_sequential_container(m: nn.Module) -> bool:
    """nn.Sequential (or subclass) that keeps Sequential's forward, so inserting a child is safe."""
    return isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward


@dataclass(frozen=True)
class BlockInfo:
    """What :func:`analyze_block` learned about one child of an nn.Sequential."""

    ok: bool  # a copy with ``zeroed`` set to zero is exactly the identity (given post_act holds)
    reason: str = ""
    zeroed: tuple[str, ...] = ()
    post_act: str = ""  # idempotent activation after the last residual add ("" if none)
    out_act: str = ""  # idempotent activation that produces the block's output ("" if none)
    transformer: bool = False
    shortcut: str = ""  # projection shortcut module: a template only after replacing it
    input_convs: tuple[str, ...] = ()  # convs reading the block input (rebuilt with the shortcut)


def _is_add(n: fx.Node) -> bool:
    return (n.op == "call_function" and n.target in _ADD_FUNCS and "alpha" not in n.kwargs) or (
        n.op == "call_method" and n.target in _ADD_METHODS and "alpha" not in n.kwargs
    )


def _zero_target(node: fx.Node, gm: fx.GraphModule) -> tuple[str, ...] | None:
    """Names of the tensors whose zeroing makes ``node``'s value exactly zero (None: unknown)."""
    for _ in range(64):
        if node.op == "call_module":
            m = gm.get_submodule(node.target)
            if isinstance(m, _ZERO_KEEPING_MODULES) or type(m).__name__ == "StochasticDepth":
                node = node.args[0]
                continue
            h = handler_for(m)
            if isinstance(h, AttentionHandler):  # nn.MultiheadAttention, Swin's attention
                out = h.projections(m)[3]
                p = node.target + "".join(f".{n}" for n, x in m.named_modules() if x is out)
                return (f"{p}.weight",) + ((f"{p}.bias",) if out.bias is not None else ())
            if isinstance(m, _ZEROABLE) and getattr(m, "weight", None) is not None:
                bias = getattr(m, "bias", None) is not None
                return (f"{node.target}.weight",) + ((f"{node.target}.bias",) if bias else ())
            return None
        args = [a for a in node.args if isinstance(a, fx.Node)]
        if node.op == "call_function" and node.target is operator.getitem:
            src = node.args[0]
            is_mha = src.op == "call_module" and isinstance(
                gm.get_submodule(src.target), nn.MultiheadAttention
            )
            if is_mha and node.args[1] == 0:
                node = src
                continue
            return None
        mul = (node.op == "call_function" and node.target in _MUL_FUNCS) or (
            node.op == "call_method" and node.target == "mul"
        )
        if mul:
            attrs = [a for a in args if a.op == "get_attr"]
            if attrs:  # layer scale: gamma * f(x)
                return (attrs[0].target,)
            if not args:
                return None
            node = args[-1]
            continue
        keeps = (node.op == "call_function" and node.target in _ZERO_KEEPING_FUNCS) or (
            node.op == "call_function"
            and getattr(node.target, "__name__", "") == "stochastic_depth"
        )
        if keeps or (node.op == "call_method" and node.target in _ZERO_KEEPING_METHODS):
            node = node.args[0]
            continue
        return None
    return None


_BLOCKS: dict[tuple, BlockInfo] = shared_cache()  # structure -> analysis
_BLOCKS_MAX = 512


def analyze_block(
    block: nn.Module, whole: fx.GraphModule | None = None, path: str = ""
) -> BlockInfo:
    """Decide whether a copy of ``block`` can be made the identity by zeroing its branch ends.

    Blocks of the same ``structure`` (classes, flags, which tensors exist; not the layers'
    sizes) get the same answer. ``whole``, a trace of the model that holds ``block`` at
    ``path``, spares tracing the block again: its graph is cut out of that one."""
    if type(block).__module__.startswith("torch.nn.modules") and not block._modules:
        relu = isinstance(block, nn.ReLU | nn.Hardtanh)
        return BlockInfo(False, out_act=act_signature(block) if relu else "")
    if is_sequential_container(block):  # a stage of blocks is a container, not a template
        return BlockInfo(False, "", out_act=_sequential_out_act(block, whole, path))
    key = structure(block)  # the cases above are cheaper than this
    info = _BLOCKS.get(key) if key is not None else None
    if info is None:
        info = _analyze_block(block, whole, path)
        if key is not None:
            if len(_BLOCKS) >= _BLOCKS_MAX:
                _BLOCKS.clear()
            _BLOCKS[key] = info
    return info


def _analyze_block(block: nn.Module, whole: fx.GraphModule | None, path: str) -> BlockInfo:
    try:
        gm = (whole is not None and block_graph(whole, path, block)) or symbolic_trace(block)
    except Exception as e:
        return BlockInfo(
            False, f"torch.fx cannot trace '{type(block).__name__}' ({type(e).__name__})"
        )
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    out = next(n for n in gm.graph.nodes if n.op == "output").args[0]
    if not placeholders or not isinstance(out, fx.Node):
        return BlockInfo(False, "the block has no single input and output tensor")
    x, act = placeholders[0], node_activation(out, gm)
    out_act = act[0] if act and act[1] else ""
    h, post = out, ""
    if act is not None:
        if not act[1]:
            return BlockInfo(
                False,
                f"the block ends with {act[0]}, which is not idempotent, so a zeroed copy is "
                "not the identity",
                out_act=out_act,
            )
        post, h = act[0], out.args[0]
    zeroed: list[str] = []
    n_branches, shortcut, skip_nodes = 0, None, set()
    while h is not x:
        if not isinstance(h, fx.Node) or not _is_add(h):
            return BlockInfo(False, "the block's output is not x + f(x)", out_act=out_act)
        a, b = h.args[0], h.args[1]
        if b is x or (isinstance(b, fx.Node) and _is_add(b) and a is not x):
            a, b = b, a
        if not (a is x or (isinstance(a, fx.Node) and _is_add(a))):
            if _projects(a, x) is None and _projects(b, x) is not None:
                a, b = b, a
            shortcut = _projects(a, x)
            if shortcut is None or n_branches:
                return BlockInfo(False, "the block's output is not x + f(x)", out_act=out_act)
            skip_nodes, a = _nodes_until(a, x), x
        z = _zero_target(b, gm) if isinstance(b, fx.Node) else None
        if z is None:
            return BlockInfo(
                False, f"the residual branch ending at '{b}' cannot be zeroed", out_act=out_act
            )
        zeroed.extend(z)
        n_branches += 1
        h = a
    if n_branches == 0:
        return BlockInfo(False, "the block has no residual add", out_act=out_act)
    mods = list(block.modules())
    sdpa = any(n.target is F.scaled_dot_product_attention for n in gm.graph.nodes)
    transformer = sdpa or any(isinstance(handler_for(m), AttentionHandler) for m in mods)
    transformer |= n_branches >= 2 and any(isinstance(m, nn.LayerNorm) for m in mods)
    info = BlockInfo(True, "", tuple(zeroed), post, out_act, transformer)
    if shortcut is None:
        return info
    pooled = _strided_pooling(gm, skip_nodes)
    if pooled:
        why = f"the block also downsamples by pooling ('{pooled}'), which a copy would keep"
        return BlockInfo(False, why, out_act=out_act)
    readers = [u for u in x.users if u not in skip_nodes]
    convs = [u.target for u in readers if _is_plain_conv(u, gm)]
    if len(convs) != len(readers):
        why = "its projection shortcut cannot be removed (the input feeds more than plain convs)"
        return BlockInfo(False, why, out_act=out_act)
    return BlockInfo(
        False,
        "the shortcut is a projection (downsample), not the block's input",
        info.zeroed,
        post,
        out_act,
        transformer,
        shortcut=shortcut,
        input_convs=tuple(convs),
    )


_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


def _strided_pooling(gm: fx.GraphModule, skip: set[fx.Node]) -> str:
    """A pooling with stride > 1 outside the shortcut (a template copy only makes convs
    stride 1), or ''."""
    for n in gm.graph.nodes:
        if n in skip:
            continue
        if n.op == "call_module" and isinstance(gm.get_submodule(n.target), _POOLS):
            stride = gm.get_submodule(n.target).stride
        elif n.op == "call_function" and "pool" in getattr(n.target, "__name__", ""):
            if "adaptive" in n.target.__name__:
                return n.name
            stride = n.kwargs.get("stride", n.args[2] if len(n.args) > 2 else None)
        else:
            continue
        strides = stride if isinstance(stride, tuple | list) else (stride,)
        if stride is None or any(s != 1 for s in strides):
            return str(n.target) if n.op == "call_module" else n.name
    return ""


def _sequential_out_act(seq: nn.Sequential, whole: fx.GraphModule | None, path: str) -> str:
    """out_act of a plain Sequential: that of its last child."""
    if not seq._modules:
        return ""
    name, last = next(reversed(seq._modules.items()))
    return analyze_block(last, whole, f"{path}.{name}" if path else name).out_act


def _projects(n: object, x: fx.Node) -> str | None:
    """Module path of a projection shortcut ``n = S(x)`` (a chain of modules under one parent)."""
    targets = []
    while isinstance(n, fx.Node) and n is not x:
        if n.op != "call_module" or len(n.all_input_nodes) != 1:
            return None
        targets.append(n.target)
        n = n.all_input_nodes[0]
    if n is not x or not targets:
        return None
    if len(targets) == 1:
        return targets[0]
    parts = [t.split(".") for t in targets]
    common = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return ".".join(common) or None


def _nodes_until(n: fx.Node, x: fx.Node) -> set[fx.Node]:
    out = set()
    while n is not x:
        out.add(n)
        n = n.all_input_nodes[0]
    return out


def _is_plain_conv(n: fx.Node, gm: fx.GraphModule) -> bool:
    if n.op != "call_module":
        return False
    m = gm.get_submodule(n.target)
    return isinstance(m, PLAIN_CONVS) and m.groups == 1 and len(n.users) >= 1


def template_copy(block: nn.Module, info: BlockInfo, channels: int, seed: int | None) -> nn.Module:
    """A copy of ``block`` that maps ``channels`` to ``channels`` with an identity shortcut.

    Blocks with an identity shortcut are just deep-copied. Otherwise the projection becomes
    ``nn.Identity``, every conv gets stride 1, and the convs that read the input are rebuilt with
    ``channels`` inputs and a fresh init seeded by ``seed`` (0 if None) so replays agree.
    The caller zeroes ``info.zeroed`` afterwards.
    """
    new = clone_module(block)
    if not info.shortcut:
        return new
    new.set_submodule(info.shortcut, nn.Identity())
    for m in new.modules():
        if isinstance(m, PLAIN_CONVS):
            m.stride = (1,) * (m.weight.dim() - 2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0 if seed is None else seed)
        for name in info.input_convs:
            old = new.get_submodule(name)
            conv = type(old)(
                channels, old.out_channels, old.kernel_size, padding=old.padding,
                dilation=old.dilation, bias=old.bias is not None, padding_mode=old.padding_mode,
            )  # fmt: skip
            new.set_submodule(name, conv.to(old.weight.device, old.weight.dtype))
    return new
