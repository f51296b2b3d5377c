"""A wandb workspace template for a search: the panels a user wants, defined as code.

    python -m nas.tracking.wandb_workspace --entity ME --project nas           # save it (online)
    python -m nas.tracking.wandb_workspace --entity ME --project nas --print   # its JSON, offline

Sections:

* **candidates**: every candidate's ``val_acc`` against ``epoch`` on one panel (epoch 0 is the
  accuracy right after the warm start, so a child's curve starts at its parent's accuracy),
  ``train_loss`` and ``epoch_seconds`` likewise;
* **search**: ``best_val_acc`` (best so far) against wall time and against
  ``candidates_finished``, each candidate's final ``candidate_val_acc``, and the ``lineage``
  table (group and filter it by parent, ops, generation, on_best_path ...).

Building the workspace needs no network (``wandb-workspaces``, the ``workspace`` extra); saving
it does: a workspace lives on the wandb server (``Workspace.save`` posts it through wandb's
GraphQL API), so offline runs get their panels once synced and the template saved.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["search_workspace"]


def search_workspace(entity: str, project: str, name: str = "nas search") -> Any:
    """The workspace as a ``wandb_workspaces.workspaces.Workspace`` (not saved)."""
    try:
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
    except ImportError as exc:  # pragma: no cover - the workspace extra is not installed
        raise ImportError(
            "the wandb workspace template needs wandb-workspaces: pip install 'nas[workspace]'"
        ) from exc

    candidates = ws.Section(
        name="candidates",
        is_open=True,
        panels=[
            wr.LinePlot(
                title="val accuracy of every candidate (epoch 0: right after the warm start)",
                x="epoch",
                y=["val_acc"],
                max_runs_to_show=200,
            ),
            wr.LinePlot(title="train loss", x="epoch", y=["train_loss"], max_runs_to_show=200),
            wr.LinePlot(title="seconds per epoch", x="epoch", y=["epoch_seconds"]),
        ],
    )
    search = ws.Section(
        name="search",
        is_open=True,
        panels=[
            wr.LinePlot(title="best so far against wall time", x="WallTime", y=["best_val_acc"]),
            wr.LinePlot(
                title="best so far and each candidate",
                x="candidates_finished",
                y=["best_val_acc", "candidate_val_acc"],
            ),
            wr.WeavePanelSummaryTable(table_name="lineage"),
        ],
    )
    return ws.Workspace(entity=entity, project=project, name=name, sections=[candidates, search])


def main(argv: list[str] | None = None) -> None:
    """Save the template to a wandb project, or print its JSON (``--print``, offline)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entity", required=True, help="wandb entity (user or team)")
    ap.add_argument("--project", default="nas", help="wandb project (logger.project)")
    ap.add_argument("--name", default="nas search", help="the workspace's name")
    ap.add_argument("--print", action="store_true", help="print the JSON spec, do not save")
    args = ap.parse_args(argv)
    workspace = search_workspace(args.entity, args.project, args.name)
    if args.print:
        spec = workspace._to_model().model_dump(by_alias=True, exclude_none=True, mode="json")
        print(json.dumps(spec, indent=1))
        return
    workspace.save()  # needs `wandb login` and the network


if __name__ == "__main__":
    main()
