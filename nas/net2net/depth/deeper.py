"""Net2DeeperNet: insert an identity block at a depth point, keeping the network's function.

The child is a deep copy of the parent (same class) with one module replaced:

* conv/linear points: the module ``name`` becomes ``nn.Sequential(original, layer, [bn], act)``
  (or ``nn.Sequential(original, act, layer, [bn], act)`` before a functional ``F.relu``). Wrapping
  instead of inserting keeps every other module's name, so stored transform lists stay valid.
* residual/transformer points: a zeroed copy of a block is inserted into its nn.Sequential right
  after ``name``; numbered containers are renumbered, named ones get ``<name>_d<k>``.

Replaying the same call on the same parent gives the same structure and state_dict keys (and,
with a seed, the same values), so a candidate is stored as seed spec + transforms + state_dict.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..errors import Net2NetError, NotDeepenableError
from ..graph.calls import call_model, in_mode
from ..graph.clone import clone_module
from ..noise import add_noise
from ..verify import check_preserved
from .identity_blocks import conv_identity, linear_identity, make_activation, resolve_tensor
from .points import DepthPoint, PointAnalysis, analyze
from .residual_blocks import analyze_block, template_copy

__all__ = ["DepthPoint", "deepen", "deepen_with_mapping", "depth_points"]


def depth_points(model: nn.Module, example_input: Any) -> list[DepthPoint]:
    """Every place where :func:`deepen` can insert an exact identity block, in module order.

    Args:
        model: any nn.Module; activation points need torch.fx to trace it, residual points only
            need their blocks to be traceable.
        example_input: a batch the model accepts (tuple: positional args; dict: keyword args).
    """
    return list(analyze(model, example_input).points.values())


def _first_tensor(batch: Any) -> torch.Tensor:
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, tuple | list) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    raise TypeError(
        f"deepen: data batches must be tensors or (inputs, ...) tuples, got {type(batch)}"
    )


def _point_statistics(
    model: nn.Module, point: DepthPoint, data: Iterable[Any]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, population variance) of the tensor at ``point`` over ``data`` (eval)."""
    sums = sq = None
    count = 0
    act = make_activation(point.activation) if point.prepend_activation else None

    def hook(_m: nn.Module, _args: tuple, out: torch.Tensor) -> None:
        nonlocal sums, sq, count
        t = (act(out) if act is not None else out).detach().double()
        t = t.transpose(0, 1).reshape(t.shape[1], -1)
        s, s2 = t.sum(1), (t * t).sum(1)
        sums, sq = (s, s2) if sums is None else (sums + s, sq + s2)
        count += t.shape[1]

    ref = next(iter(model.parameters()), None)
    handle = model.get_submodule(point.name).register_forward_hook(hook)
    try:
        with in_mode(model), torch.no_grad():
            for batch in data:
                x = _first_tensor(batch)
                if ref is not None:
                    x = x.to(ref.device, ref.dtype if x.is_floating_point() else x.dtype)
                call_model(model, x)
    finally:
        handle.remove()
    if not count:
        raise Net2NetError(f"deepen at '{point.name}': `data` yielded no batches")
    mean = sums / count
    return mean, (sq / count - mean * mean).clamp_min(0.0)


def _dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype, t.device
    return torch.get_default_dtype(), torch.device("cpu")


def _insert_activation_block(
    child: nn.Module, p: DepthPoint, data: Iterable[Any] | None, kernel_size: int
) -> list[tuple[torch.Tensor, float]]:
    dtype, device = _dtype_device(child)
    if p.kind == "conv":
        stats = _point_statistics(child, p, data) if data is not None else None
        new = conv_identity(
            p.width, p.spatial_dims, p.activation, kernel_size=kernel_size, stats=stats,
            dtype=dtype, device=device,
        )  # fmt: skip
    else:
        new = linear_identity(p.width, p.activation, dtype=dtype, device=device)
    lead = [make_activation(p.activation)] if p.prepend_activation else []
    child.set_submodule(p.name, nn.Sequential(child.get_submodule(p.name), *lead, *new))
    w = new[0].weight  # one 1 per output row: its RMS, without a pass over a C x C x k^d tensor
    return [(w, math.sqrt(w.shape[0] / w.numel()))]


def _insert_residual_block(
    child: nn.Module, p: DepthPoint, seed: int | None
) -> list[tuple[torch.Tensor, float]]:
    container = child.get_submodule(p.container)
    template = child.get_submodule(p.template)
    block = template_copy(template, analyze_block(template), p.width, seed)
    perturb = []
    with torch.no_grad():
        for name in p.zeroed:
            t = resolve_tensor(block, name)
            perturb.append((t, float(t.detach().double().pow(2).mean().sqrt())))
            t.zero_()
    items = list(container._modules.items())
    key = p.name.rsplit(".", 1)[-1] if p.container else p.name
    pos = next(i for i, (k, _) in enumerate(items) if k == key) + 1
    if all(k.isdigit() for k, _ in items):
        mods = [m for _, m in items]
        mods.insert(pos, block)
        container._modules = OrderedDict((str(i), m) for i, m in enumerate(mods))
    else:
        k = 1
        while f"{key}_d{k}" in container._modules:
            k += 1
        items.insert(pos, (f"{key}_d{k}", block))
        container._modules = OrderedDict(items)
    return perturb


def deepen(
    model: nn.Module,
    point: DepthPoint | str,
    *,
    example_input: Any,
    data: Iterable[Any] | None = None,
    noise: float = 0.0,
    seed: int | None = None,
    verify: bool = True,
    kernel_size: int = 3,
) -> nn.Module:
    """A deeper copy of ``model`` that computes the same function (Net2DeeperNet).

    Args:
        model: the parent; left untouched.
        point: a :class:`DepthPoint` from :func:`depth_points` or its name.
        example_input: a batch the model accepts; used to find points and to verify.
        data: optional batches (tensors or ``(inputs, targets)``) for conv points: the new BN
            gets the tensor's per-channel statistics (exact in eval mode).
        noise: if > 0, add ``noise * RMS * N(0,1)`` to the new block's identity weights (or to
            the zeroed tensors of a residual copy), to break symmetry. Breaks exactness on
            purpose; the verification runs before the noise is added.
        seed: seed of that noise (same seed -> same child).
        verify: check in float64 eval mode that the (noise-free) child matches the parent,
            raising :class:`~nas.net2net.errors.VerificationError` otherwise.
        kernel_size: odd kernel size of a new conv.

    Raises:
        NotDeepenableError: ``point`` is not exact here; the message names the module and why.
    """
    return deepen_with_mapping(
        model, point, example_input=example_input, data=data, noise=noise, seed=seed,
        verify=verify, kernel_size=kernel_size,
    )[0]  # fmt: skip


def deepen_with_mapping(
    model: nn.Module,
    point: DepthPoint | str,
    *,
    example_input: Any,
    data: Iterable[Any] | None = None,
    noise: float = 0.0,
    seed: int | None = None,
    verify: bool = True,
    kernel_size: int = 3,
) -> tuple[nn.Module, dict[str, str]]:
    """:func:`deepen`, also returning where each of the parent's parameters went in the child
    (``{parent name: child name}``: inserting a block renumbers its container, wrapping a layer
    renames it), for :func:`~nas.net2net.grow_optimizer_state`."""
    name = point.name if isinstance(point, DepthPoint) else str(point)
    try:
        return _deepen(model, name, example_input, data, noise, seed, verify, kernel_size)
    except Net2NetError:
        raise
    except Exception as exc:  # a case the analysis did not foresee: a refusal, not a crash
        raise NotDeepenableError(f"cannot deepen at '{name}': {type(exc).__name__}: {exc}") from exc


def _deepen(
    model: nn.Module,
    name: str,
    example_input: Any,
    data: Iterable[Any] | None,
    noise: float,
    seed: int | None,
    verify: bool,
    kernel_size: int,
) -> tuple[nn.Module, dict[str, str]]:
    analysis: PointAnalysis = analyze(model, example_input)
    p = analysis.points.get(name)
    if p is None:
        raise NotDeepenableError(analysis.explain(name))
    memo: dict[int, Any] = {}
    child = clone_module(model, memo)
    if p.kind in ("conv", "linear"):
        new = _insert_activation_block(child, p, data, kernel_size)
    else:
        new = _insert_residual_block(child, p, seed)
    if verify:
        check_preserved(
            model, child, example_input, what=f"deepen at '{name}' ({p.kind})",
            refuse=NotDeepenableError,
        )  # fmt: skip
    if noise:  # noise * RMS (before zeroing / identity, 1 if that was 0) * N(0, 1)
        gen = torch.Generator().manual_seed(seed if seed is not None else torch.seed() % 2**63)
        for t, scale in new:
            add_noise(t, noise * (scale or 1.0), gen)
    where = {id(t): n for n, t in child.named_parameters()}
    renames = {
        n: where[id(memo[id(t)])]
        for n, t in model.named_parameters()
        if id(t) in memo and id(memo[id(t)]) in where
    }
    return child, renames
