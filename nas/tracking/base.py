"""The tracker factory and the no-op backend.

A tracker is a ``nas.search.callbacks.SearchCallback``: the search calls it, never the other way
round. Backends are registered by name in ``TRACKERS`` and built with ``create_tracker``, which
is what ``conf/logger/*.yaml`` instantiate.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from nas.search.callbacks import SearchCallback

# name -> "module:attribute", imported on demand so `logger=none` never imports wandb.
TRACKERS: dict[str, str] = {
    "none": "nas.tracking.base:NullTracker",
    "console": "nas.tracking.console:ConsoleTracker",
    "wandb": "nas.tracking.wandb_tracker:WandbTracker",
}


class NullTracker(SearchCallback):
    """Logs nothing (``logger=none``)."""

    def close(self) -> None:
        """Nothing to close."""


def create_tracker(
    kind: str = "none", *, run_dir: str | os.PathLike[str] | None = None, **kwargs: Any
) -> SearchCallback:
    """Build a tracker by name.

    Args:
        kind: one of ``TRACKERS`` (``none``, ``console``, ``wandb``).
        run_dir: the caller's output folder (the Hydra run dir); wandb writes its ``wandb/``
            folder there unless ``dir`` is given. Other backends ignore it.
        **kwargs: passed to the backend's constructor (e.g. ``project``, ``mode`` for wandb),
            except ``background``: if true, the tracker runs on a worker thread
            (:class:`~nas.tracking.background.BackgroundTracker`).

    Raises:
        ValueError: unknown kind, or options the backend does not take (one line each).
    """
    if kind not in TRACKERS:
        raise ValueError(
            f"logger: unknown tracker '{kind}'; choose one of: {', '.join(sorted(TRACKERS))}"
        )
    if kind == "wandb" and kwargs.get("dir") is None and run_dir is not None:
        kwargs["dir"] = run_dir
    background = kwargs.pop("background", False)
    if not isinstance(background, bool):
        raise ValueError(f"logger: background must be true or false, got {background!r}")
    module, attr = TRACKERS[kind].split(":")
    cls = getattr(importlib.import_module(module), attr)
    try:
        tracker = cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"logger: bad option for the {kind} tracker: {exc}") from exc
    if background:
        from nas.tracking.background import BackgroundTracker

        return BackgroundTracker(tracker)
    return tracker


def summary_rows(summary: Any) -> list[dict[str, Any]]:
    """Lineage rows carried by a search summary (attribute or key ``lineage``/``rows``), or []."""
    for key in ("lineage", "rows", "lineage_rows"):
        value = summary.get(key) if isinstance(summary, Mapping) else getattr(summary, key, None)
        if value:
            return [dict(r) for r in value]
    return []


def summary_value(summary: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a summary object or mapping."""
    if isinstance(summary, Mapping):
        return summary.get(key, default)
    return getattr(summary, key, default)
