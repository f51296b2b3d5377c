"""Helpers shared by the search tests: a callback that records every hook call."""

from __future__ import annotations

from typing import Any

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
