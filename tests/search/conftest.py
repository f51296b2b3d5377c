"""Compose the real Hydra configs with overrides that make a search tiny (seconds on 1 core)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

CONF = Path(__file__).resolve().parents[2] / "conf"

TINY = [
    "logger=none",
    "data.n_samples=1200",
    "train.epochs=1",
    "train.progress=false",
    "search.seed_epochs=3",
    "search.startup_trials=2",
    "seed=0",
]


@pytest.fixture
def tiny_cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., DictConfig]:
    """A function: overrides -> composed nas_search config writing only under tmp_path."""
    monkeypatch.chdir(tmp_path)

    def make(*overrides: str) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(
                "nas_search",
                overrides=[
                    f"storage=sqlite:///{tmp_path}/nas.db",
                    f"search.artifacts={tmp_path}/artifacts",
                    *TINY,
                    *overrides,
                ],
            )

    return make
