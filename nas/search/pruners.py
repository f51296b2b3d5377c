"""Pruning that fits warm starts: a candidate is judged by what it adds over where it started.

A median pruner on raw val accuracy stops nothing in a growing search: every warm-started child
starts at its parent's accuracy, above the median of the curves seen so far, so a clearly worse
child trains its whole budget. :class:`GainPruner` compares *gains* instead: a candidate's best
val accuracy so far minus its reference (its parent's val accuracy for a warm start, 0 from random
init, where the rule reduces to the median pruner).
"""

from __future__ import annotations

import statistics

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial, TrialState

__all__ = ["REFERENCE_ATTR", "GainPruner", "gain_at"]

REFERENCE_ATTR = "reference_acc"  # user attr: the accuracy a candidate started from


def gain_at(trial: FrozenTrial, step: int) -> float | None:
    """Best reported val accuracy up to ``step`` minus the trial's reference (None: no report)."""
    values = [v for s, v in trial.intermediate_values.items() if s <= step]
    if not values:
        return None
    return max(values) - float(trial.user_attrs.get(REFERENCE_ATTR, 0.0))


class GainPruner(BasePruner):
    """Prune a candidate, from epoch ``n_warmup_steps`` on, when its gain is below the median
    gain of finished candidates at the same epoch (once ``n_startup_trials`` of them reported it).

    A rule "prune a warm child that has not beaten its parent after the warm-up" was tried and
    dropped: on mnist1d_large, with a cosine stepped once per epoch, a student's first epochs ran
    at an unannealed rate and fell below its teacher, so it pruned almost every widened child and
    the lineage never grew (README, "Net2Net search vs scratch"; the default per-step schedule
    removes most of that dip).

    Args:
        n_startup_trials: Finished candidates needed before the median rule applies.
        n_warmup_steps: Epochs a candidate always trains before either rule applies.
    """

    def __init__(self, n_startup_trials: int = 4, n_warmup_steps: int = 2) -> None:
        if n_startup_trials < 0 or n_warmup_steps < 0:
            raise ValueError("GainPruner: n_startup_trials and n_warmup_steps must be >= 0")
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.n_warmup_steps:
            return False
        gain = gain_at(trial, step)
        if gain is None:
            return False
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        gains = [
            g
            for t in finished
            if t.number != trial.number and REFERENCE_ATTR in t.user_attrs
            for g in [gain_at(t, step)]
            if g is not None and max(t.intermediate_values) >= step
        ]
        if len(gains) < max(self.n_startup_trials, 1):
            return False
        return gain < statistics.median(gains)
