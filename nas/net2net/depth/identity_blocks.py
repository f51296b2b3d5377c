"""Identity blocks for conv/linear depth points, and the activation helpers they share.

Conv/Linear points get ``layer -> [BatchNorm] -> act`` initialized to the identity: a Dirac
kernel (centre tap at ``k // 2``; odd kernel, same padding, stride 1, groups 1) or an identity
matrix. It is exact because the input already went through the same idempotent ``act``
(``act(act(z)) == act(z)``); GELU, SiLU, tanh, ... are not idempotent, so no such block is exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.utils import skip_init

__all__ = [
    "BN_EPS",
    "act_signature",
    "conv_identity",
    "linear_identity",
    "make_activation",
    "node_activation",
    "resolve_tensor",
]

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


def node_activation(node: fx.Node, gm: fx.GraphModule) -> tuple[str, bool] | None:
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
    conv = skip_init(  # no random init: every weight is set below
        _CONV[spatial_dims], channels, channels, kernel_size, padding=kernel_size // 2,
        bias=False, device=device, dtype=dtype,
    )  # fmt: skip
    bn = _BN[spatial_dims](channels, device=device, dtype=dtype)
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
    lin = skip_init(nn.Linear, features, features, device=device, dtype=dtype)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(features, dtype=dtype, device=device))
        lin.bias.zero_()
    return [lin, make_activation(activation)]
