"""Helpers shared by the search tests: a recording callback and the CLI's build-and-run path."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from nas.search.callbacks import SearchCallback


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
