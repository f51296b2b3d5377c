"""A sampler seeded per trial: reproducible for one worker, different across workers.

A sampler seeded once per process makes every worker of a shared study draw the same random
numbers: two workers starting together would propose the same mutation of the same parent, and a
resumed run would replay the first run's random start-up suggestions. Seeding from (seed, trial
number) instead gives each trial its own stream, the same whichever worker runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

__all__ = ["TrialSeededSampler", "trial_seed"]


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial ``number``'s random stream."""
    return (int(seed) * 1_000_003 + int(number)) % 2**32


class TrialSeededSampler(BaseSampler):
    """Delegates to ``factory(trial_seed(seed, trial.number))``, built fresh for each trial.

    Built for the search loop, which runs one trial at a time per process. TPE keeps no state
    between trials other than its random generator (it reads the history from the storage), so
    a fresh inner sampler per trial loses nothing.
    """

    def __init__(self, factory: Callable[[int], BaseSampler], seed: int) -> None:
        self._factory, self._seed = factory, seed
        self._inner = factory(trial_seed(seed, 0))

    @property
    def inner(self) -> BaseSampler:
        return self._inner

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._inner = self._factory(trial_seed(self._seed, trial.number))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()
