"""Tracking backends for the search (``none``, ``console``, ``wandb``) behind one factory.

>>> tracker = create_tracker("wandb", project="nas", mode="offline")  # a SearchCallback

Also: the lineage as a terminal tree (``lineage_tree``, ``render_lineage``), as pictures
(``plot_lineage_tree``, ``plot_curves``) and a reader for offline wandb runs
(``read_offline_run``). The wandb backend lives in ``nas.tracking.wandb_tracker`` and is only
imported when asked for.
"""

from nas.search.mutation import format_mutation
from nas.tracking.base import TRACKERS, NullTracker, create_tracker
from nas.tracking.console import ConsoleTracker
from nas.tracking.offline import OfflineRun, find_offline_runs, read_offline_run, read_offline_runs
from nas.tracking.plots import plot_curves, plot_lineage_tree
from nas.tracking.rows import TABLE_COLUMNS, best_path
from nas.tracking.tree import lineage_tree, render_lineage

__all__ = [
    "TABLE_COLUMNS",
    "TRACKERS",
    "ConsoleTracker",
    "NullTracker",
    "OfflineRun",
    "best_path",
    "create_tracker",
    "find_offline_runs",
    "format_mutation",
    "lineage_tree",
    "plot_curves",
    "plot_lineage_tree",
    "read_offline_run",
    "read_offline_runs",
    "render_lineage",
]
