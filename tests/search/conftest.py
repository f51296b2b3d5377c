"""Tiny searches built through the library's entry point (seconds on 1 core)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nas.data import mnist1d
from nas.models import model_spec
from nas.search import PreparedSearch, SearchConfig, prepare_search
from nas.train import Budget, TrainOptions

# The search's own defaults (SearchConfig(), TrainOptions()) with budgets that make it tiny.
TINY_SEARCH = {"seed_epochs": 3, "startup_trials": 2, "seed": 0}
TINY_TRAIN = TrainOptions(budget=Budget(epochs=1), progress=False)
SEED_MODEL = model_spec("cnn1d", widths=[8, 8])  # conf/model/cnn1d_small.yaml


@pytest.fixture
def tiny_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., PreparedSearch]:
    """A function: SearchConfig fields (+ train=, seed_checkpoint=, callbacks=) -> a checked
    search whose storage, artifacts and run folder all lie under tmp_path."""
    monkeypatch.chdir(tmp_path)

    def make(train: TrainOptions = TINY_TRAIN, **kwargs: Any) -> PreparedSearch:
        env_kw = {k: kwargs.pop(k) for k in ("seed_checkpoint", "callbacks") if k in kwargs}
        config = SearchConfig.from_dict({**TINY_SEARCH, **kwargs})
        return prepare_search(
            config,
            data=mnist1d(n_samples=1200, seed=0),
            seed_model=SEED_MODEL,
            train=train,
            storage=f"sqlite:///{tmp_path}/nas.db",
            artifacts=tmp_path / "artifacts",
            run_dir=tmp_path / "run" / str(config.study or "unnamed"),
            progress=False,
            **env_kw,
        )

    return make
