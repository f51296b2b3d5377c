"""Parent policies: which finished candidate the next trial grows.

Only COMPLETE trials with a stored checkpoint can be parents. The tournament and Pareto policies
let the trial *suggest* a relative position in the ranked pool, so the sampler learns whether
growing the best or a runner-up pays off.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["candidates", "choose_parent", "pareto_front", "rank_by_accuracy"]


def candidates(study: optuna.Study) -> list[FrozenTrial]:
    """COMPLETE trials that carry a checkpoint, i.e. that a child can be grown from."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [t for t in trials if t.user_attrs.get("checkpoint")]


def rank_by_accuracy(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Highest val accuracy first; ties go to the smaller, then the older candidate."""
    return sorted(trials, key=lambda t: (-t.values[0], t.user_attrs.get("params", 0), t.number))


def pareto_front(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Non-dominated trials for (accuracy up, params down), smallest first."""
    front = []
    for t in trials:
        acc, size = t.values[0], t.user_attrs.get("params", 0)
        dominated = any(
            o.values[0] >= acc
            and o.user_attrs.get("params", 0) <= size
            and (o.values[0] > acc or o.user_attrs.get("params", 0) < size)
            for o in trials
        )
        if not dominated:
            front.append(t)
    return sorted(front, key=lambda t: (t.user_attrs.get("params", 0), t.number))


def choose_parent(
    trial: optuna.Trial | None,
    study: optuna.Study,
    policy: str,
    k: int = 3,
    exclude: set[int] | frozenset[int] = frozenset(),
) -> FrozenTrial:
    """The parent for ``trial`` under ``policy`` (best | tournament | pareto).

    ``exclude``: trial numbers whose checkpoint turned out unusable in this run.
    """
    pool = [t for t in candidates(study) if t.number not in exclude]
    if not pool:
        raise LookupError("no finished candidate with a checkpoint to grow from")
    ranked = rank_by_accuracy(pool)
    if policy == "best" or trial is None:
        return ranked[0]
    group = ranked[:k] if policy == "tournament" else pareto_front(pool)
    pos = trial.suggest_float("parent_pos", 0.0, 1.0)
    return group[min(int(pos * len(group)), len(group) - 1)]
