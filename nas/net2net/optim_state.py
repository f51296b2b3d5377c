"""Grow an optimizer's state (SGD momentum, Adam moments) along with a widened model.

Most Net2Net implementations restart the student's optimizer. With the mapping that
:func:`~nas.net2net.widen_with_mapping` returns, the teacher's per-parameter state can be
carried over instead: every state tensor shaped like its parameter is indexed exactly like the
parameter's weights (a copied unit starts with its source's momentum and second moment).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .width.remap import Mapping

__all__ = ["grow_optimizer_state"]


def grow_optimizer_state(
    state: dict[str, Any],
    parent: nn.Module,
    child: nn.Module,
    mapping: Mapping | None = None,
    renames: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An optimizer ``state_dict`` for ``child`` grown from ``parent``'s.

    Args:
        state: ``optimizer.state_dict()`` of an optimizer built on ``parent.parameters()``.
        parent: the teacher the state belongs to.
        child: the student (from ``widen_with_mapping`` or ``deepen``).
        mapping: the parameter mapping of the widening (None for a deepening: shapes unchanged).
        renames: where each parent parameter went in the child (``deepen_with_mapping``: an
            inserted block renumbers its container); by default names are kept.

    Parameters are matched by name (after ``renames``). Parameters new to the child (an
    inserted layer or block) start with no state, as a fresh optimizer would.
    Load the result with ``optimizer.load_state_dict`` on an optimizer over
    ``child.parameters()`` (with several param groups: the same groups, new parameters last).
    """
    mapping = mapping or {}
    parent_params = list(parent.named_parameters())
    child_params = dict(child.named_parameters())
    child_index = {name: i for i, name in enumerate(child_params)}
    grown: dict[int, dict[str, Any]] = {}

    def moved(name: str) -> str | None:
        return name if renames is None else renames.get(name)

    for key, per_param in state["state"].items():
        name, old = parent_params[int(key)]
        new_name = moved(name)
        if new_name not in child_index:
            continue
        target = child_params[new_name]
        entry = {}
        for k, v in per_param.items():
            if isinstance(v, torch.Tensor) and v.ndim and v.shape == old.shape:
                for dim, index in mapping.get(name, []):
                    v = v.index_select(dim, index.to(v.device))
                if v.shape != target.shape:
                    raise ValueError(
                        f"grow_optimizer_state: state '{k}' of '{name}' has shape "
                        f"{tuple(v.shape)} after remapping, the child's parameter {tuple(target.shape)}"
                    )
            entry[k] = v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
        grown[child_index[new_name]] = entry
    groups = copy.deepcopy(state["param_groups"])
    names_of_group = [{moved(parent_params[i][0]) for i in g["params"]} for g in groups]
    for g, names in zip(groups, names_of_group, strict=True):
        g["params"] = [child_index[n] for n in child_params if n in names]
    placed = {i for g in groups for i in g["params"]}
    groups[-1]["params"] = sorted(
        groups[-1]["params"] + [i for i in range(len(child_params)) if i not in placed]
    )
    return {"state": grown, "param_groups": groups}
