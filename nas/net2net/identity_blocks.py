"""Identity blocks for Net2DeeperNet and the residual-block analysis that justifies them.

* Conv/Linear points get ``layer -> [BatchNorm] -> act`` initialized to the identity: a Dirac
  kernel (centre tap at ``k // 2``; odd kernel, same padding, stride 1, groups 1) or an identity
  matrix. It is exact because the input already went through the same idempotent ``act``.
* Residual/transformer points get a copy of a block ``h -> h + f_1(h) -> ... -> [act]`` whose
  branches end in a module we can zero (BN/LayerNorm affine, Linear/Conv, MultiheadAttention's
  out_proj, a layer-scale parameter). Zeroed branches add exactly 0, in eval AND train mode.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

__all__ = [
    "BlockInfo",
    "act_signature",
    "analyze_block",
    "conv_identity",
    "is_sequential_container",
    "linear_identity",
    "make_activation",
    "resolve_tensor",
]

_ADD_FUNCS = {operator.add, operator.iadd, torch.add}
_ADD_METHODS = {"add", "add_"}
_MUL_FUNCS = {operator.mul, operator.imul, torch.mul}
# Ops that map an all-zero input to an all-zero output (so zeroing before them zeroes the branch).
_ZERO_KEEPING_FUNCS = {F.dropout, torch.permute, torch.flatten, torch.reshape, torch.transpose}
_ZERO_KEEPING_METHODS = {"permute", "reshape", "view", "transpose", "contiguous", "flatten"}
_ZERO_KEEPING_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity)
_ZEROABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.modules.batchnorm._NormBase,
             nn.LayerNorm, nn.GroupNorm)  # fmt: skip
_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def act_signature(m: nn.Module) -> str:
    """Short name of an idempotent activation module, e.g. "ReLU", "ReLU6", "Hardtanh(-1.0,1.0)"."""
    if isinstance(m, nn.ReLU | nn.ReLU6):
        return type(m).__name__
    if isinstance(m, nn.Hardtanh):
        return f"Hardtanh({m.min_val},{m.max_val})"
    return type(m).__name__


def make_activation(signature: str) -> nn.Module:
    """A fresh (not in-place) activation module from :func:`act_signature`'s string."""
    if signature == "ReLU":
        return nn.ReLU()
    if signature == "ReLU6":
        return nn.ReLU6()
    if signature.startswith("Hardtanh("):
        lo, hi = signature[len("Hardtanh(") : -1].split(",")
        return nn.Hardtanh(float(lo), float(hi))
    raise ValueError(f"no idempotent activation called {signature!r}")


def _node_act(node: fx.Node, gm: fx.GraphModule) -> tuple[str, bool] | None:
    """(name, idempotent) if ``node`` applies an elementwise activation, else None."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        if isinstance(m, nn.ReLU | nn.Hardtanh):
            return act_signature(m), True
        if type(m).__module__.startswith("torch.nn.modules.activation"):
            return type(m).__name__, False
        return None
    if node.op == "call_function":
        if node.target in (F.relu, torch.relu, torch.relu_, F.relu_):
            return "ReLU", True
        if node.target is F.relu6:
            return "ReLU6", True
        if node.target in (F.gelu, F.silu, torch.tanh, torch.sigmoid, F.leaky_relu, F.elu):
            return node.target.__name__, False
    if node.op == "call_method" and node.target in ("relu", "relu_"):
        return "ReLU", True
    return None


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
            if isinstance(m, nn.MultiheadAttention):
                p = f"{node.target}.out_proj"
                return (f"{p}.weight",) + ((f"{p}.bias",) if m.out_proj.bias is not None else ())
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


def analyze_block(block: nn.Module) -> BlockInfo:
    """Decide whether a copy of ``block`` can be made the identity by zeroing its branch ends."""
    try:
        gm = fx.symbolic_trace(block)
    except Exception as e:
        return BlockInfo(
            False, f"torch.fx cannot trace '{type(block).__name__}' ({type(e).__name__})"
        )
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    out = next(n for n in gm.graph.nodes if n.op == "output").args[0]
    if not placeholders or not isinstance(out, fx.Node):
        return BlockInfo(False, "the block has no single input and output tensor")
    x, act = placeholders[0], _node_act(out, gm)
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
    n_branches = 0
    while h is not x:
        if not isinstance(h, fx.Node) or not _is_add(h):
            return BlockInfo(False, "the block's output is not x + f(x)", out_act=out_act)
        a, b = h.args[0], h.args[1]
        if b is x or (isinstance(b, fx.Node) and _is_add(b) and a is not x):
            a, b = b, a
        if not (a is x or (isinstance(a, fx.Node) and _is_add(a))):
            return BlockInfo(
                False, "the shortcut is not the block's input (e.g. a downsample)", out_act=out_act
            )
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
    transformer = sdpa or any(isinstance(m, nn.MultiheadAttention) for m in mods)
    transformer |= n_branches >= 2 and any(isinstance(m, nn.LayerNorm) for m in mods)
    return BlockInfo(True, "", tuple(zeroed), post, out_act, transformer)


def resolve_tensor(module: nn.Module, name: str) -> torch.Tensor:
    """The parameter or buffer at dotted path ``name`` under ``module``."""
    *path, attr = name.split(".")
    owner = module.get_submodule(".".join(path)) if path else module
    return getattr(owner, attr)


#: eps of new BatchNorms: a power of two near PyTorch's 1e-5, so var + eps can be made exact.
BN_EPS = 2.0**-17


def _exact_gamma(var: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(gamma, running_var) with running_var + BN_EPS == gamma**2 exactly and gamma >= sqrt(var + eps).

    A float32 model checked in float64 needs gamma / sqrt(running_var + eps) == 1 *in float64*,
    which the stored float32 values only achieve if gamma has few mantissa bits (so gamma**2 and
    gamma**2 - eps are representable). Rounding gamma up to b bits moves the statistics by at
    most 2**-b relative; we use the most bits that stay exact, per channel.
    """
    target = torch.sqrt(var.clamp_min(0) + BN_EPS)
    mant, exp = torch.frexp(target)
    gamma, running = target.clone(), (target * target - BN_EPS).clamp_min(0)
    done = torch.zeros_like(target, dtype=torch.bool)
    for bits in range(11, 0, -1):
        g = torch.ldexp(torch.ceil(mant * 2**bits) / 2**bits, exp.double())
        rv = g * g - BN_EPS
        ok = ~done & (rv >= 0) & (rv.to(dtype).double() == rv) & (g.to(dtype).double() == g)
        gamma, running = torch.where(ok, g, gamma), torch.where(ok, rv, running)
        done |= ok
    return gamma, running


def conv_identity(
    channels: int,
    spatial_dims: int,
    activation: str,
    *,
    kernel_size: int = 3,
    stats: tuple[torch.Tensor, torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> list[nn.Module]:
    """[Dirac conv, BatchNorm, activation] computing the identity in eval mode.

    With ``stats = (mean, var)`` of the tensor at the point, the BN gets gamma = sqrt(var + eps),
    beta = mean and those running statistics, so training starts from normalized activations.
    Without, running_var = 1 - eps and gamma = 1 make the eval-mode BN the identity.
    """
    if kernel_size % 2 != 1:
        raise ValueError(
            f"deepen: kernel_size must be odd for a same-padded Dirac conv, got {kernel_size}"
        )
    conv = _CONV[spatial_dims](
        channels, channels, kernel_size, padding=kernel_size // 2, bias=False
    ).to(device=device, dtype=dtype)
    bn = _BN[spatial_dims](channels).to(device=device, dtype=dtype)
    bn.eps = BN_EPS
    with torch.no_grad():
        conv.weight.zero_()
        centre = (slice(None), slice(None)) + (kernel_size // 2,) * spatial_dims
        conv.weight[centre] = torch.eye(channels, dtype=dtype, device=device)
        bn.bias.zero_()
        if stats is None:  # var + eps == 1 exactly in every float dtype
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - BN_EPS)
            bn.weight.fill_(1.0)
        else:
            mean, var = stats
            gamma, running_var = _exact_gamma(var.double(), dtype)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(running_var)
            bn.weight.copy_(gamma)
            bn.bias.copy_(bn.running_mean)
    return [conv, bn, make_activation(activation)]


def linear_identity(
    features: int,
    activation: str,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> list[nn.Module]:
    """[identity Linear (zero bias), activation]: exact after the same idempotent activation."""
    lin = nn.Linear(features, features).to(device=device, dtype=dtype)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(features, dtype=dtype, device=device))
        lin.bias.zero_()
    return [lin, make_activation(activation)]
