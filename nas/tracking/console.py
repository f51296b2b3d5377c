"""Console backend: one line per finished candidate and the lineage tree at the end."""

from __future__ import annotations

import sys
from typing import IO, Any

from rich.console import Console

from nas.search.callbacks import CandidateInfo, SearchCallback
from nas.search.mutation import format_mutation
from nas.tracking.base import summary_rows
from nas.tracking.rows import format_acc
from nas.tracking.tree import lineage_tree


class ConsoleTracker(SearchCallback):
    """Print candidates as they finish and the lineage tree when the search ends.

    Args:
        file: stream to write to (default: stdout).
        tree: print the lineage tree at the end.
    """

    def __init__(self, file: IO[str] | None = None, tree: bool = True) -> None:
        self.console = Console(file=file or sys.stdout, highlight=False)
        self.tree = tree
        self.study = "lineage"
        self._rows: dict[int, dict[str, Any]] = {}

    def on_search_start(self, study_name: str, config: dict) -> None:
        """Remember the study name for the tree title."""
        self.study = study_name

    def on_candidate_end(self, info: CandidateInfo, result: dict) -> None:
        """Print ``t<n> <- t<parent>  <mutation>  <acc>  <state>``."""
        state = str(result.get("state", "complete")).lower()
        before = result.get("val_acc_before_training", result.get("val_acc_before"))
        self._rows[info.trial_number] = {
            "number": info.trial_number,
            "parent": info.parent,
            "state": state,
            "mutation": info.mutation,
            "val_acc": result.get("val_acc"),
            "val_acc_before": before,
            "params": info.params,
        }
        parent = "root" if info.parent is None else f"<- t{info.parent}"
        reason = f" ({result['reason']})" if result.get("reason") else ""
        self.console.print(
            f"t{info.trial_number} {parent}  {format_mutation(info.mutation)}  "
            f"{format_acc(before)} -> {format_acc(result.get('val_acc'))}  {state}{reason}"
        )

    def on_search_end(self, summary: Any) -> None:
        """Print the lineage tree (from the summary's rows when it has them)."""
        rows = summary_rows(summary) or list(self._rows.values())
        if self.tree and rows:
            self.console.print(lineage_tree(rows, self.study))

    def close(self) -> None:
        """Nothing to close."""
