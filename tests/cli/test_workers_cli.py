"""Several `nas-search` processes on one study (SQLite and a real PostgreSQL server), one of them
SIGKILLed mid-candidate: the others finish the study, nothing is left RUNNING, no orphan, and
every finished candidate's checkpoint loads and re-scores to its recorded accuracy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import nas.data
from nas.search.audit import audit_study
from nas.search.storage import artifact_store, open_storage

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
N_SAMPLES = 600
TINY = [
    "logger=none",
    f"data.n_samples={N_SAMPLES}",
    "train.progress=false",
    "search.seed_epochs=2",
    "search.startup_trials=2",
]


def start_worker(tmp_path: Path, name: str, *overrides: str) -> subprocess.Popen:
    env = dict(os.environ, WANDB_MODE="offline", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nas.cli_search",
            *TINY,
            *overrides,
            f"hydra.run.dir={tmp_path}/{name}",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def trials_of(url: str, study: str) -> list:
    try:
        return optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)
    except KeyError:  # not created yet
        return []


def audit(url: str, study: str, artifacts: Path, n_samples: int = N_SAMPLES):
    data = nas.data.load("mnist1d", n_samples=n_samples, seed=0)
    s = optuna.load_study(study_name=study, storage=open_storage(url))
    return audit_study(s, artifact_store(artifacts), data)


def wait_all(procs: list[subprocess.Popen], tmp_path: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    for i, p in enumerate(procs):
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        logs = "\n".join(f.read_text()[-1500:] for f in sorted(tmp_path.glob("*.log")))
        assert p.returncode == 0, f"worker {i} exited {p.returncode}\n{logs}"


@pytest.mark.slow
def test_joblib_launcher_runs_two_workers_on_one_study(tmp_path):
    """`nas-search -m hydra/launcher=workers_local worker='range(2)'`: two workers start at once
    on an empty SQLite file; one root, both grow children, the study stops at the budget (not at
    twice it), everything checks out.

    The joblib workers start up to seconds apart, and a tiny study can be over before the
    second one asks: the root and the children here train long enough (~5 s, ~2 s each) that
    both workers overlap."""
    url = f"sqlite:///{tmp_path}/nas.db"
    n_samples = 3000
    args = [f"storage={url}", "search.study=w", "search.trials=6", "train.epochs=20",
            f"data.n_samples={n_samples}", "search.seed_epochs=120"]  # fmt: skip
    tiny = [o for o in TINY if not o.startswith(("data.n_samples=", "search.seed_epochs="))]
    env = dict(os.environ, WANDB_MODE="offline", PYTHONUNBUFFERED="1")
    res = subprocess.run(
        [sys.executable, "-m", "nas.cli_search", "-m", "hydra/launcher=workers_local",
         "worker=range(2)", *tiny, *args, f"hydra.sweep.dir={tmp_path}/multi"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    trials = trials_of(url, "w")
    roots = [t for t in trials if t.user_attrs.get("job_type") == "root"]
    assert len(roots) == 1
    a = audit(url, "w", tmp_path / "outputs" / "artifacts", n_samples)
    assert a.ok, a
    assert a.finished == 6  # the budget of the study, not of each worker
    assert a.checked >= 1 and len(a.workers) == 2  # both workers finished candidates
    jobs = sorted((tmp_path / "multi").glob("*/best/model_card.json"))
    assert len(jobs) == 2  # each job exported the study's best


def kill_mid_candidate(url: str, study: str, victim: subprocess.Popen, timeout: float = 300):
    """SIGKILL ``victim`` once it is training a candidate (after an epoch, before tell)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.05)
        trials = trials_of(url, study)
        done = sum(t.state in FINISHED for t in trials)
        for t in trials:
            mine = (t.user_attrs.get("worker") or {}).get("pid") == victim.pid
            if done >= 2 and mine and t.state == TrialState.RUNNING and t.intermediate_values:
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                return t.number, time.monotonic()
    raise AssertionError("the victim finished before it could be killed")


@pytest.mark.slow
@pytest.mark.postgres
def test_workers_on_postgres_survive_a_sigkill(postgres, tmp_path):
    """Three workers on a real PostgreSQL server; one is SIGKILLed mid-candidate. Its trial is
    failed as stale (same host: its pid is gone) within a few seconds, its place in the budget
    is taken by another candidate, and the two others finish the study."""
    url = postgres.create_database("workers")
    # candidates of ~3 s (20 epochs took 0.4 s: the poll could miss them all) and no pruner (a
    # pruned candidate ends right after its epoch report): a window the kill cannot miss
    args = [f"storage={url}", "search.study=pg", "search.trials=6", "train.epochs=150",
            "search.pruner=none"]  # fmt: skip
    procs = [start_worker(tmp_path, f"pg{i}", *args) for i in range(3)]
    killed, t_kill = kill_mid_candidate(url, "pg", procs[2])
    recovered_after = None
    while recovered_after is None and time.monotonic() - t_kill < 60:
        t = next(t for t in trials_of(url, "pg") if t.number == killed)
        if t.state == TrialState.FAIL:
            recovered_after = time.monotonic() - t_kill
        time.sleep(0.1)
    wait_all(procs[:2], tmp_path)
    assert recovered_after is not None and recovered_after < 15  # RECOVERY_EVERY + polling
    stale = next(t for t in trials_of(url, "pg") if t.number == killed)
    assert stale.state == TrialState.FAIL
    assert stale.user_attrs["fail_reason"].startswith(f"stale: its worker (pid {procs[2].pid}")
    a = audit(url, "pg", tmp_path / "outputs" / "artifacts")
    assert a.ok, a  # no RUNNING left, no orphan, every checkpoint re-scores exactly
    assert a.finished == 6 and a.checked >= 3
