"""Run a tracker's hooks on a worker thread, so logging never stalls the search.

One wandb run is opened per candidate, and online each ``wandb.init`` waits on the network. The
wrapped
tracker receives every hook in call order on one thread (copies of the arguments, so the loop
may go on changing its own); ``on_search_end`` and ``close`` wait until everything queued has
been handled, so what the tracker wrote is complete when the search returns.

Off by default (``logger.background``): offline, ``wandb.init`` takes ~60 ms and an A/B run of a
10-candidate search was no faster with the worker (the GIL contention slowed training by as
much as the overlap saved).
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from typing import Any

from nas.search.callbacks import SearchCallback

log = logging.getLogger(__name__)

#: seconds ``close`` waits for the worker to finish what is queued
CLOSE_TIMEOUT = 120.0


class BackgroundTracker(SearchCallback):
    """Forwards every hook of :class:`SearchCallback` to ``inner`` on one worker thread."""

    def __init__(self, inner: SearchCallback) -> None:
        self.inner = inner
        self._queue: queue.Queue[tuple[str, tuple] | None] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(
            target=self._work, name=f"{type(inner).__name__}-worker", daemon=True
        )
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                method, args = item
                try:
                    getattr(self.inner, method)(*args)
                except Exception as exc:  # a logger must not kill the search
                    log.warning("tracker %s.%s failed: %s", type(self.inner).__name__, method, exc)
            finally:
                self._queue.task_done()

    def _submit(self, method: str, *args: Any, copy_args: bool = True) -> None:
        if self._closed:
            log.warning("tracker %s: %s after close ignored", type(self.inner).__name__, method)
            return
        self._queue.put((method, copy.deepcopy(args) if copy_args else args))

    def flush(self) -> None:
        """Wait until every queued hook has run."""
        if self._thread.is_alive():
            self._queue.join()

    def on_search_start(self, study_name: str, config: dict) -> None:
        self._submit("on_search_start", study_name, config)

    def on_candidate_start(self, info: Any) -> None:
        self._submit("on_candidate_start", info)

    def on_epoch(self, info: Any, record: dict) -> None:
        self._submit("on_epoch", info, record)

    def on_candidate_end(self, info: Any, result: dict) -> None:
        self._submit("on_candidate_end", info, result)

    def on_search_end(self, summary: Any) -> None:
        """Runs on the worker like every other hook; returns when the tracker is done."""
        self._submit("on_search_end", summary, copy_args=False)  # waited for: no copy needed
        self.flush()

    def close(self) -> None:
        """Handle what is queued, close the inner tracker, stop the worker. Safe to call twice."""
        if self._closed:
            return
        if hasattr(self.inner, "close"):
            self._submit("close")
        self._closed = True
        self._queue.put(None)
        self._thread.join(CLOSE_TIMEOUT)
        if self._thread.is_alive():
            log.warning(
                "tracker %s: still busy after %.0f s; exiting without waiting",
                type(self.inner).__name__,
                CLOSE_TIMEOUT,
            )
