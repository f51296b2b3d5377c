"""The mutation space: what a trial suggests and how a suggestion becomes a Net2Net transform.

Targets are suggested as *relative positions* in [0, 1) over the parent's width groups or depth
points (ordered input -> output), so the parameter means the same thing ("early", "late") on every
parent and the sampler can learn from it; the resolved stable name is stored in the mutation
record, which is what replay uses.
"""

from __future__ import annotations

import copy
from typing import Any

import optuna
import torch
from torch import nn

from nas import net2net
from nas.search.mutation import OPS, TRAIN, Mutation

__all__ = [
    "MutationError",
    "apply_op",
    "apply_op_with_mapping",
    "describe",
    "propose",
    "replay",
]


class MutationError(ValueError):
    """A mutation cannot be applied (no target of that kind, unknown op, ...)."""


def _index(pos: float, n: int) -> int:
    return min(int(pos * n), n - 1)


def _targets(model: nn.Module, op: str, example_input: torch.Tensor) -> list[Any]:
    if op == "widen":
        return list(net2net.width_groups(model, example_input))
    if op == "deepen":
        return list(net2net.depth_points(model, example_input))
    raise MutationError(f"unknown mutation {op!r}; choose one of: {', '.join(OPS)}")


def apply_op(
    model: nn.Module,
    op: dict | Mutation,
    example_input: torch.Tensor,
    *,
    data: torch.Tensor | None = None,
    verify: bool = True,
) -> nn.Module:
    """Apply one recorded transform (a dict from a mutation list) and return the child."""
    return apply_op_with_mapping(model, op, example_input, data=data, verify=verify)[0]


def apply_op_with_mapping(
    model: nn.Module,
    op: dict | Mutation,
    example_input: torch.Tensor,
    *,
    data: torch.Tensor | None = None,
    verify: bool = True,
) -> tuple[nn.Module, Any, dict[str, str] | None]:
    """:func:`apply_op`, also returning how the parent's parameters map into the child:
    ``(child, mapping, renames)`` - the widening's index mapping (None for deepen) and, for a
    deepening, where each parameter moved (None for widen); see ``grow_optimizer_state``.
    A train step returns a copy of ``model`` (the parent is never trained in place)."""
    try:
        step = Mutation.from_json(op)
    except ValueError as exc:
        raise MutationError(str(exc)) from None
    if step.op == TRAIN:
        return copy.deepcopy(model), None, None
    if step.op == "widen":
        if step.width is None:
            raise MutationError(f"widen {step.target}: the record has no width")
        child, mapping = net2net.widen_with_mapping(
            model,
            step.target,
            int(step.width),
            example_input=example_input,
            noise=step.noise,
            seed=step.seed,
            verify=verify,
            split=step.split or "even",
            init=step.init or "net2net",
        )
        return child, mapping, None
    child, renames = net2net.deepen_with_mapping(
        model,
        step.target,
        example_input=example_input,
        data=data,
        noise=step.noise,
        seed=step.seed,
        verify=verify,
    )
    return child, None, renames


def replay(model: nn.Module, path: list[dict], example_input: torch.Tensor) -> nn.Module:
    """Rebuild a candidate's structure from the seed model (weights come from its checkpoint).

    Train steps leave the structure as it is, so they are passed over (no copy per step of a
    long training chain)."""
    for op in path:
        if op.get("op") != TRAIN:
            model = apply_op(model, op, example_input, verify=False)
    return model


def grown_width(group: net2net.WidthGroup, factor: float) -> int:
    """``factor`` x the group's width, rounded up to a width it can take exactly: a multiple of
    its width where a norm or attention spans the units (a tile), of its blocks when grouped."""
    old = int(group.width)
    width = max(old + 1, round(old * factor))
    step = old if group.tile else group.blocks
    return -(-width // step) * step


def _suggest_step(
    trial: optuna.Trial,
    model: nn.Module,
    op: str,
    i: int,
    example_input: torch.Tensor,
    *,
    widen_factors: list[float],
    noise: float,
    seed: int,
    split: str,
    widen_init: str,
) -> Mutation:
    """Step ``i`` of a mutation: its target (a relative position) and settings, suggested."""
    if op == TRAIN:
        return Mutation(TRAIN, "")
    targets = _targets(model, op, example_input)
    if not targets:
        raise MutationError(f"{op}: the model has no {op} target")
    pos = trial.suggest_float(f"{op}_pos_{i}", 0.0, 1.0)
    target = targets[_index(pos, len(targets))]
    if op == "widen":
        factor = float(trial.suggest_categorical(f"factor_{i}", list(widen_factors)))
        fresh = widen_init == "zero_out" and not target.copies_only  # else copies, exact
        return Mutation(
            op, target.name, noise=0.0 if fresh else noise, seed=seed * 1000 + i,
            factor=factor, width=grown_width(target, factor), old_width=int(target.width),
            split=None if fresh else split, init="zero_out" if fresh else None,
        )  # fmt: skip
    kind = str(getattr(target, "kind", ""))
    return Mutation(op, target.name, noise=noise, seed=seed * 1000 + i, kind=kind)


def propose(
    trial: optuna.Trial,
    parent: nn.Module,
    example_input: torch.Tensor,
    *,
    mutations: list[str],
    widen_factors: list[float],
    max_ops: int,
    noise: float,
    seed: int,
    split: str = "even",
    widen_init: str = "zero_out",
    data: torch.Tensor | None = None,
    optimizer_state: dict | None = None,
) -> tuple[nn.Module, list[dict], dict | None]:
    """Suggest a short sequence of transforms on ``parent`` and apply them one after another.

    Each step re-reads the targets of the model produced so far (a deepened model has new
    groups). ``train`` is offered as the first step only and ends the sequence: that child is
    the parent as it is, trained further. Returns the child, the mutation records and, when
    the teacher's ``optimizer_state`` is given, that state grown along every step for the child.
    """
    n_ops = trial.suggest_int("n_ops", 1, max_ops) if max_ops > 1 else 1
    model, records = parent, []
    for i in range(n_ops):
        choices = [m for m in mutations if i == 0 or m != TRAIN]
        if not choices:
            break
        op = trial.suggest_categorical(f"op_{i}", choices)
        step = _suggest_step(
            trial, model, op, i, example_input, widen_factors=widen_factors, noise=noise,
            seed=seed, split=split, widen_init=widen_init,
        )  # fmt: skip
        child, mapping, renames = apply_op_with_mapping(model, step, example_input, data=data)
        if optimizer_state is not None:
            optimizer_state = net2net.grow_optimizer_state(
                optimizer_state, model, child, mapping, renames=renames
            )
        model = child
        records.append(step.to_json())
        if op == TRAIN:
            break
    return model, records, optimizer_state


def describe(model: nn.Module, example_input: torch.Tensor) -> dict:
    """Widths of the width groups and the number of depth points: the architecture at a glance."""
    try:
        groups = net2net.width_groups(model, example_input)
        points = net2net.depth_points(model, example_input)
    except Exception as exc:  # describing is best effort; it never fails a candidate
        return {"error": str(exc)}
    return {"widths": {g.name: int(g.width) for g in groups}, "depth_points": len(points)}
