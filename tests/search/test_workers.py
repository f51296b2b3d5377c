"""Several workers on one study: race-safe start, heartbeats, stale recovery, seeding, twins."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from nas.search import SearchConfig
from nas.search.heartbeat import TrialHeartbeat, fail_stale, worker_attr
from nas.search.seeding import trial_seed
from nas.search.space import MutationError
from nas.search.storage import make_sampler, open_storage
from nas.search.workers import admit, mutation_key, refuse_twin

ROOT = Path(__file__).resolve().parents[2]

# One process: wait for the common start instant, open the study, print what happened.
OPENER = textwrap.dedent(
    """
    import json, sys, time
    from nas.search import SearchConfig, SearchConfigError
    from nas.search.storage import open_storage, open_study
    start, url, seed_model = float(sys.argv[1]), sys.argv[2], sys.argv[3]
    while time.time() < start:
        time.sleep(0.001)
    try:
        study, resumed = open_study(
            open_storage(url), "shared", SearchConfig(), {"seed_model": seed_model, "data": "d"}
        )
        print(json.dumps({"ok": True, "created": not resumed, "attrs": study.user_attrs}))
    except SearchConfigError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
    """
)


def open_at_once(url: str, seed_models: list[str]) -> list[dict]:
    """Start one opener per entry, all released at the same instant (after imports)."""
    start = time.time() + 8.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(start), url, m],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in seed_models
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr[-2000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def check_race(url: str) -> None:
    # five workers with one seed model, two with another, all at once on an empty database
    models = ["A", "A", "B", "A", "B", "A", "A"]
    results = open_at_once(url, models)
    assert sum(r.get("created", False) for r in results) == 1
    winner = next(r for r in results if r.get("created"))["attrs"]["seed_model"]
    for model, r in zip(models, results, strict=True):
        if model == winner:
            assert r["ok"] and r["attrs"] == {
                "seed_model": winner,
                "data": "d",
                "objective": "accuracy",
            }
        else:  # the identity was written before anyone could join: a mismatch is refused
            assert not r["ok"] and f"was created with seed_model={winner}" in r["error"]
    assert optuna.get_all_study_names(url) == ["shared"]


def test_simultaneous_start_on_empty_sqlite(tmp_path):
    check_race(f"sqlite:///{tmp_path}/nas.db")


@pytest.mark.postgres
def test_simultaneous_start_on_empty_postgres(postgres):
    check_race(postgres.create_database("race"))


def _ask_as(study: optuna.Study, host: str, pid: int, beats: bool) -> optuna.Trial:
    """A RUNNING trial as a worker on ``host`` would leave it (its record, as it writes it)."""
    trial = study.ask()
    w = worker_attr() | {"host": host, "pid": pid}
    if beats:
        study._storage.record_heartbeat(trial._trial_id)
    else:
        w.pop("beats")
    trial.set_user_attr("worker", w)
    return trial


def test_heartbeat_age_decides_across_hosts(tmp_path):
    """A worker elsewhere that stopped beating is failed after the grace period with a reason;
    one whose heartbeat thread runs is not; nothing depends on this host's pid table."""
    storage = open_storage(f"sqlite:///{tmp_path}/nas.db", stale_after=3)
    study = optuna.create_study(storage=storage)
    dead = _ask_as(study, "other-host", 4242, beats=True)
    live = _ask_as(study, "other-host", 4343, beats=True)
    with TrialHeartbeat(storage, study._study_id, stale_after=3) as beat:
        beat.start(live)  # re-labels it with this process, beats every 2 s
        t0 = time.monotonic()
        assert fail_stale(storage, study._study_id, 3) == []  # fresh heartbeats: both alive
        recovered = []  # by this loop or by the heartbeat thread's own check (every 5 s)
        while storage.get_trial(dead._trial_id).state == TrialState.RUNNING:
            assert time.monotonic() - t0 < 30, "never recovered"
            time.sleep(0.5)
            recovered += fail_stale(storage, study._study_id, 3)
        waited = time.monotonic() - t0
    assert sorted(recovered + beat.recovered) == [dead.number]
    assert 3 <= waited < 3 + 10  # grace period + SQLite's 1 s timestamps + polling
    trials = {t.number: t for t in study.get_trials()}
    assert trials[live.number].state == TrialState.RUNNING
    assert trials[dead.number].state == TrialState.FAIL
    assert "no heartbeat for over 3s" in trials[dead.number].user_attrs["fail_reason"]


def test_dead_pid_on_this_host_is_failed_at_once(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path}/nas.db", stale_after=600)
    study = optuna.create_study(storage=storage)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a pid that just exited
    import socket

    gone = _ask_as(study, socket.gethostname(), proc.pid, beats=True)
    assert fail_stale(storage, study._study_id, 600) == [gone.number]
    reason = study.get_trials()[0].user_attrs["fail_reason"]
    assert reason.startswith("stale:") and f"pid {proc.pid}" in reason


def test_sampler_streams_follow_the_trial_number(tmp_path):
    """Two workers asking at once draw different numbers; the same trial number draws the same
    numbers in any process (a single worker stays reproducible)."""
    cfg = SearchConfig(sampler="random", seed=3)
    url = f"sqlite:///{tmp_path}/nas.db"
    storage = open_storage(url)
    optuna.create_study(study_name="s", storage=storage)
    a = optuna.load_study(study_name="s", storage=storage, sampler=make_sampler(cfg))
    b = optuna.load_study(study_name="s", storage=storage, sampler=make_sampler(cfg))
    ta, tb = a.ask(), b.ask()  # both RUNNING at once, as two workers' trials
    xa, xb = ta.suggest_float("x", 0, 1), tb.suggest_float("x", 0, 1)
    assert xa != xb
    other = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path}/o.db"))
    other.sampler = make_sampler(cfg)
    for _ in range(2):
        t = other.ask()
        assert t.suggest_float("x", 0, 1) == [xa, xb][t.number]
    assert trial_seed(3, 1) != trial_seed(3, 2)


def test_twin_is_refused_until_the_first_is_gone(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path}/nas.db", stale_after=600)
    study = optuna.create_study(storage=storage)
    mutation = [{"op": "widen", "target": "features.0", "width": 16, "seed": 1000}]
    first = study.ask()
    first.set_user_attr("parent", 0)
    refuse_twin(study, first, 0, mutation)
    second = study.ask()
    second.set_user_attr("parent", 0)
    twin = [dict(mutation[0], seed=2000)]  # another trial's seed: still the same transform
    assert mutation_key(twin) == mutation_key(mutation)
    with pytest.raises(MutationError, match=f"trial {first.number} is already growing"):
        refuse_twin(study, second, 0, twin)
    refuse_twin(study, second, 1, twin)  # another parent: fine
    study.tell(first, state=TrialState.FAIL)  # e.g. recovered as stale: free again
    third = study.ask()
    third.set_user_attr("parent", 0)
    study.tell(second, state=TrialState.FAIL)
    refuse_twin(study, third, 0, twin)


def test_admit_gives_lower_numbers_the_budget_and_the_root(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path}/nas.db", stale_after=600)
    study = optuna.create_study(storage=storage, direction="maximize")

    def root():
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return next((t for t in done if t.user_attrs.get("job_type") == "root"), None)

    s = SimpleNamespace(study=study, cfg=SearchConfig(trials=3), root=root)
    first, second = study.ask(), study.ask()  # two workers asked at the same instant
    assert admit(s, first) is True  # the lowest number trains the root
    with pytest.raises(LookupError, match=f"trial {first.number} in another worker is training"):
        admit(s, second)
    study.tell(second, state=TrialState.FAIL)
    first.set_user_attr("job_type", "root")
    study.tell(first, 0.5)
    a, b, c = study.ask(), study.ask(), study.ask()  # 1 finished + 2 RUNNING cover trials=3
    assert admit(s, a) is False and admit(s, b) is False  # children of the root
    with pytest.raises(LookupError, match="not needed: 1 finished \\+ 2 RUNNING"):
        admit(s, c)
