"""The search's configuration as plain Python values (no Hydra here: only the CLI imports it).

Validation happens before any storage is opened, so a bad config never leaves a half-created
study behind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nas.search.mutation import OPS as MUTATION_OPS
from nas.search.mutation import TRAIN

__all__ = ["MUTATION_OPS", "SearchConfig", "SearchConfigError"]

OBJECTIVES = ("accuracy", "accuracy_vs_size")
PARENT_POLICIES = ("best", "tournament", "pareto")
PRUNERS = ("none", "gain", "median", "successive_halving", "hyperband")
SAMPLERS = ("tpe", "random")
FINAL_TRAIN = ("none", "finetune", "scratch")
SPLITS = ("even", "uneven")
WIDEN_INITS = ("net2net", "zero_out")


class SearchConfigError(ValueError):
    """A configuration or environment problem the user must fix; the CLI prints it as one line."""


@dataclass
class SearchConfig:
    """Everything the loop needs besides data, seed model and training kwargs.

    Attributes and their defaults mirror ``conf/search/default.yaml`` (a test checks that the
    two agree); see that file for what each one does.
    """

    study: str | None = None
    trials: int = 20
    objective: str = "accuracy"
    parent: str = "best"
    tournament_k: int = 3
    mutations: list[str] = field(default_factory=lambda: ["widen", "deepen"])
    widen_factors: list[float] = field(default_factory=lambda: [2.0])
    max_ops: int = 2
    lr_ratio: tuple[float, float] = (0.5, 1.0)
    noise: list[float] = field(default_factory=lambda: [0.0])
    split: str = "uneven"
    widen_init: str = "zero_out"
    hparams: dict[str, list[float]] = field(default_factory=dict)  # optimizer kwarg: [low, high]
    warm_start: bool = True
    grow_optimizer: bool = True
    seed_epochs: int | None = 20
    train_epochs: int | None = None
    pruner: str = "median"
    pruner_warmup: int = 1
    sampler: str = "tpe"
    startup_trials: int = 4
    max_params: int | None = None
    max_flops: int | None = None
    time_limit: float | None = None
    max_failures: int = 10
    stale_after: float = 60.0
    strict_preservation: bool = True
    final_train: str = "none"
    final_epochs: int = 10
    export_dir: str = "best"
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SearchConfig:
        """Build and validate; unknown keys are errors (a typo must not be silently ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise SearchConfigError(
                f"search: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        cfg = cls(**values)
        if cfg.study is not None:  # YAML reads search.study=1 (or nan) as a number
            cfg.study = str(cfg.study)
        cfg.lr_ratio = tuple(float(v) for v in cfg.lr_ratio)  # type: ignore[assignment]
        cfg.widen_factors = [float(v) for v in cfg.widen_factors]
        cfg.noise = [float(v) for v in cfg.noise]
        cfg.mutations = list(cfg.mutations)
        cfg.hparams = {str(k): [float(x) for x in v] for k, v in dict(cfg.hparams or {}).items()}
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise SearchConfigError naming the first bad field and what is allowed."""
        _choice("objective", self.objective, OBJECTIVES)
        _choice("parent", self.parent, PARENT_POLICIES)
        _choice("pruner", self.pruner, PRUNERS)
        _choice("sampler", self.sampler, SAMPLERS)
        _choice("final_train", self.final_train, FINAL_TRAIN)
        _choice("split", self.split, SPLITS)
        _choice("widen_init", self.widen_init, WIDEN_INITS)
        if not self.mutations:
            raise SearchConfigError(
                f"search.mutations: empty; choose from {', '.join(MUTATION_OPS)}"
            )
        for op in self.mutations:
            _choice("mutations", op, MUTATION_OPS, what="mutation")
        if TRAIN in self.mutations and not self.warm_start:
            raise SearchConfigError(
                "search.mutations: train continues the parent's weights, which scratch mode "
                "(search.warm_start=false) never uses; drop train or set warm_start=true"
            )
        if self.train_epochs is not None and TRAIN not in self.mutations:
            raise SearchConfigError(
                f"search.train_epochs: {self.train_epochs} is a train step's budget, but "
                f"search.mutations {self.mutations} has no train; add train or drop train_epochs"
            )
        if self.parent == "pareto" and self.objective != "accuracy_vs_size":
            raise SearchConfigError(
                "search.parent=pareto needs search.objective=accuracy_vs_size (a Pareto front)"
            )
        _positive("trials", self.trials)
        _positive("tournament_k", self.tournament_k)
        _positive("max_ops", self.max_ops)
        _positive("final_epochs", self.final_epochs)
        _positive("max_failures", self.max_failures)
        for name in ("seed_epochs", "train_epochs", "max_params", "max_flops", "time_limit"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if not self.widen_factors or any(f <= 1.0 for f in self.widen_factors):
            raise SearchConfigError(
                f"search.widen_factors: {self.widen_factors} must be non-empty and each > 1"
            )
        lo, hi = self.lr_ratio if len(self.lr_ratio) == 2 else (0.0, 0.0)
        if not 0 < lo <= hi:
            raise SearchConfigError(
                f"search.lr_ratio: {list(self.lr_ratio)} must be [low, high] with 0 < low <= high"
            )
        for name, rng in self.hparams.items():
            if len(rng) != 2 or not 0 < float(rng[0]) <= float(rng[1]):
                raise SearchConfigError(
                    f"search.hparams.{name}: {rng} must be [low, high] with 0 < low <= high"
                )
        if isinstance(self.stale_after, bool) or not isinstance(self.stale_after, int | float):
            raise SearchConfigError(f"search.stale_after: {self.stale_after!r} must be a number")
        if self.stale_after < 10:  # heartbeats come every 2 s: leave room for a busy database
            raise SearchConfigError(
                f"search.stale_after: {self.stale_after} must be >= 10 (seconds without a "
                "heartbeat before a RUNNING trial counts as dead)"
            )
        if not self.noise or any(n < 0 for n in self.noise):
            raise SearchConfigError(f"search.noise: {self.noise} must be non-empty and each >= 0")

    @property
    def directions(self) -> list[str]:
        """Optuna directions: val accuracy up; in multi-objective mode also parameters down."""
        return ["maximize"] if self.objective == "accuracy" else ["maximize", "minimize"]


def _choice(name: str, value: Any, allowed: tuple[str, ...], what: str = "value") -> None:
    if value not in allowed:
        raise SearchConfigError(
            f"search.{name}: unknown {what} {value!r}; choose one of: {', '.join(allowed)}"
        )


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SearchConfigError(f"search.{name}: {value!r} must be a number > 0")
