"""The hooks the search calls; logging backends (nas.tracking) implement them.

The search cannot import nas.tracking (layers only import downward), so this module defines the
protocol: a base class with no-op methods. A failing callback is reported and ignored, so a broken
logger never costs a search its results.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallbackList", "CandidateInfo", "SearchCallback", "SearchSummary"]

log = logging.getLogger(__name__)


@dataclass
class CandidateInfo:
    """One candidate (= one Optuna trial) as the loggers see it."""

    study_name: str
    trial_number: int
    parent: int | None  # parent's trial number; None for the root
    mutation: list[dict]  # e.g. [{"op": "widen", "target": "features.0", "factor": 2.0, ...}]
    arch: dict  # JSON architecture summary (seed spec + transforms from the root + widths)
    params: int
    flops: int
    hparams: dict  # lr, lr_ratio, noise, ...
    warm_start: bool
    job_type: str  # "root" | "candidate"
    val_acc_before: float | None = None  # val accuracy after the warm start, before training


@dataclass
class SearchSummary:
    """What a finished search hands to the loggers and prints."""

    study_name: str
    storage: str
    objective: str
    best_trial: int | None
    best_val_acc: float | None
    test_acc: float | None
    root_test_acc: float | None
    lineage: list[dict]  # nas.search.lineage.lineage_rows
    best_so_far: list[dict]  # {"number", "elapsed", "best_val_acc"}
    timings: dict  # wall_seconds, compute_seconds, overhead_seconds, overhead_fraction
    export_dir: str | None = None
    best_path: list[int] = field(default_factory=list)  # root ... best trial numbers
    pareto: list[int] = field(default_factory=list)
    final_train: dict | None = None  # mode, val_acc, test_acc, seconds
    counts: dict = field(default_factory=dict)  # complete / pruned / fail


class SearchCallback:
    """Base class: override what you need; every method is optional."""

    def on_search_start(self, study_name: str, config: dict) -> None:
        """Once, after the study is opened. config: the search's plain-dict configuration, or
        the whole run's (data, model, train, ..., with the search's under ``search``)."""

    def on_candidate_start(self, info: CandidateInfo) -> None:
        """Before a candidate trains, after its warm start (``info.val_acc_before`` is set when
        it was measured: every child, and a root grown from a checkpoint)."""

    def on_epoch(self, info: CandidateInfo, record: dict) -> None:
        """After each epoch: epoch, train_loss, val_loss, val_acc, lr, seconds."""

    def on_candidate_end(self, info: CandidateInfo, result: dict) -> None:
        """state ("complete"|"pruned"|"fail"), val_acc, val_acc_before_training, reason;
        finished (the study's finished candidates, resumed runs included), best_trial and
        best_val_acc (the study's best so far)."""

    def on_search_end(self, summary: SearchSummary) -> None:
        """Once, after the best candidate is evaluated and exported."""


class CallbackList(SearchCallback):
    """Fans every hook out to several callbacks; an exception in one is logged, not raised."""

    def __init__(self, callbacks: Sequence[SearchCallback] | None = None) -> None:
        self.callbacks = [c for c in (callbacks or []) if c is not None]

    def _call(self, method: str, *args: Any) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, method, None)
            if fn is None:
                continue
            try:
                fn(*args)
            except Exception as exc:  # a logger must not kill the search
                log.warning("callback %s.%s failed: %s", type(cb).__name__, method, exc)

    def on_search_start(self, study_name: str, config: dict) -> None:
        self._call("on_search_start", study_name, config)

    def on_candidate_start(self, info: CandidateInfo) -> None:
        self._call("on_candidate_start", info)

    def on_epoch(self, info: CandidateInfo, record: dict) -> None:
        self._call("on_epoch", info, record)

    def on_candidate_end(self, info: CandidateInfo, result: dict) -> None:
        self._call("on_candidate_end", info, result)

    def on_search_end(self, summary: SearchSummary) -> None:
        self._call("on_search_end", summary)
