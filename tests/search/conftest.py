"""Compose the real Hydra configs with overrides that make a search tiny (seconds on 1 core)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from nas.search.callbacks import SearchCallback

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


class Recorder(SearchCallback):
    """Counts every hook call (the loop must drive the loggers)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[Any]] = {}

    def _add(self, name: str, *args: Any) -> None:
        self.calls.setdefault(name, []).append(args)

    def on_search_start(self, study_name: str, config: dict) -> None:
        self._add("on_search_start", study_name, config)

    def on_candidate_start(self, info: Any) -> None:
        self._add("on_candidate_start", info)

    def on_epoch(self, info: Any, record: dict) -> None:
        self._add("on_epoch", info, record)

    def on_candidate_end(self, info: Any, result: dict) -> None:
        self._add("on_candidate_end", info, result)

    def on_search_end(self, summary: Any) -> None:
        self._add("on_search_end", summary)


def run_cfg(cfg: DictConfig, callbacks: tuple[SearchCallback, ...] = (), **env_changes: Any) -> Any:
    """Build the search exactly like the CLI does, add callbacks, run it; returns the summary."""
    from nas.cli_search import build
    from nas.search import run_search

    scfg, env, study = build(cfg)
    env.callbacks.extend(callbacks)
    for key, value in env_changes.items():
        setattr(env, key, value)
    return run_search(scfg, env, study)
