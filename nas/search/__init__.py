"""Optuna-driven Net2Net architecture search: ask/tell loop, mutation space, lineage, resume.

>>> job = prepare_search(SearchConfig(trials=8), data=..., seed_model=..., train=...)
>>> summary = job.run()

Takes plain Python values only (the Hydra app in ``nas.cli_search`` converts its config).
The loop and its torch/Optuna dependencies load lazily, so ``nas.search.callbacks`` (which the
tracking backends implement) stays a light import.
"""

from __future__ import annotations

import importlib
from typing import Any

from nas.search.callbacks import CallbackList, CandidateInfo, SearchCallback, SearchSummary
from nas.search.config import SearchConfig, SearchConfigError

_LAZY = {
    "PreparedSearch": "nas.search.api",
    "new_study_name": "nas.search.api",
    "prepare_search": "nas.search.api",
    "run_search": "nas.search.api",
    "CheckpointError": "nas.search.candidate",
    "Mutation": "nas.search.mutation",
    "format_mutation": "nas.search.mutation",
    "audit_study": "nas.search.audit",
    "best_so_far": "nas.search.lineage",
    "lineage_path": "nas.search.lineage",
    "lineage_rows": "nas.search.lineage",
    "lineage_tree": "nas.search.lineage",
    "SearchEnv": "nas.search.loop",
    "Searcher": "nas.search.loop",
}

__all__ = [
    "CallbackList",
    "CandidateInfo",
    "SearchCallback",
    "SearchConfig",
    "SearchConfigError",
    "SearchSummary",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nas.search' has no attribute {name!r}")
