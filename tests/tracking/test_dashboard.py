"""optuna-dashboard on a real search's study: served on loopback, read back over its HTTP API."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import pytest

import nas.data
from nas.models import model_spec
from nas.search import SearchConfig, prepare_search
from nas.train import Budget, TrainOptions

optuna_dashboard = pytest.importorskip("optuna_dashboard", reason="the `dashboard` extra")


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=30) as r:
        assert r.status == 200
        return json.load(r)


def test_dashboard_serves_the_lineage_and_curves(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nas.db"
    prepare_search(
        SearchConfig(study="dash", trials=3, seed_epochs=2, pruner="none"),
        data=nas.data.load("mnist1d", n_samples=600, seed=0),
        seed_model=model_spec("cnn1d", widths=[8, 8]),
        train=TrainOptions(budget=Budget(epochs=2), device="cpu", progress=False),
        storage=url,
        outputs=tmp_path,
        progress=False,
    ).run()

    app = optuna_dashboard.wsgi(optuna.storages.RDBStorage(url))
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        summaries = _get(base, "/api/studies")["study_summaries"]
        (study,) = [s for s in summaries if s["study_name"] == "dash"]
        attrs = {a["key"]: a["value"] for a in study["user_attrs"]}
        assert json.loads(attrs["data"])["name"] == "mnist1d"
        assert json.loads(attrs["seed_model"])["name"] == "cnn1d"
        detail = _get(base, f"/api/studies/{study['study_id']}?after=0")
        trials = {t["number"]: t for t in detail["trials"]}
        assert len(trials) == 3 and all(t["state"] == "Complete" for t in trials.values())
        child = trials[1]
        user = {a["key"]: a["value"] for a in child["user_attrs"]}
        assert json.loads(user["parent"]) == 0  # the lineage, readable per trial
        assert json.loads(user["mutation"])[0]["op"] in ("widen", "deepen")
        assert [v["step"] for v in child["intermediate_values"]] == [1, 2]  # the curve
        assert child["values"] == [
            optuna.load_study(study_name="dash", storage=url).trials[1].value
        ]
        assert [a["filename"] for a in child["artifacts"]] == ["trial-1.pt"]  # the checkpoint
    finally:
        server.shutdown()
        thread.join()
