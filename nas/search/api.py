"""One call runs a whole search: open/resume the study, loop, finish, report."""

from __future__ import annotations

import secrets
import time

from nas.search.callbacks import CallbackList, SearchSummary
from nas.search.config import SearchConfig
from nas.search.loop import SearchEnv, Searcher
from nas.search.summary import finish, print_summary

__all__ = ["new_study_name", "run_search"]


def new_study_name() -> str:
    """A fresh, unique study name for a run that did not name one."""
    return f"search-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def run_search(cfg: SearchConfig, env: SearchEnv, study_name: str | None = None) -> SearchSummary:
    """Run (or resume) the search and return its summary; the callbacks see every step."""
    cfg.validate()
    searcher = Searcher(cfg, env, study_name or cfg.study or new_study_name())
    searcher.run()
    summary = finish(searcher)
    if env.progress:
        print_summary(summary, searcher.progress.console)
        searcher.progress.log_printed()
    CallbackList(env.callbacks).on_search_end(summary)
    return summary
