"""The wandb workspace template builds offline and plots what the tracker logs."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("wandb_workspaces")

from nas.tracking.wandb_tracker import EPOCH_METRICS, SEARCH_METRICS
from nas.tracking.wandb_workspace import main, search_workspace


def _panels(spec: dict) -> dict[str, list[dict]]:
    sections = spec["spec"]["section"]["panelBankConfig"]["sections"]
    return {s["name"]: s["panels"] for s in sections}


def test_template_has_the_two_panels_a_user_wants(capsys: pytest.CaptureFixture) -> None:
    main(["--entity", "me", "--project", "nas", "--print"])  # offline: no save
    spec = json.loads(capsys.readouterr().out)
    assert (spec["entity"], spec["project"], spec["displayName"]) == ("me", "nas", "nas search")
    panels = _panels(spec)
    plots = {
        (p["config"]["xAxis"], tuple(p["config"]["metrics"]))
        for section in panels.values()
        for p in section
        if p["viewType"] == "Run History Line Plot"
    }
    assert ("epoch", ("val_acc",)) in plots  # all candidates' val curves overlaid
    assert ("_timestamp", ("best_val_acc",)) in plots  # best so far against wall time
    logged = {*EPOCH_METRICS, "epoch_seconds", *SEARCH_METRICS, "epoch", "candidates_finished"}
    for x, metrics in plots:  # every panel plots something the tracker really logs
        assert x in logged | {"_timestamp"} and set(metrics) <= logged
    assert "lineage" in json.dumps(panels["search"])  # the lineage table panel


def test_workspace_object_is_not_saved_when_built() -> None:
    workspace = search_workspace("me", "nas")
    with pytest.raises(AttributeError, match="save workspace"):
        _ = workspace.url  # only a saved workspace has a url: building it touched no server
