"""Scale-out on one machine: two search workers against one on the same study budget.

Each worker is a separate process running ``nas.search.run_search`` (library API, no Hydra) on
one shared SQLite study, one torch thread each. Reported:

1. throughput: finished candidates per hour, 1 worker vs 2 (same study budget, same seeds),
   wall time from launch until every worker exited (the serial root and start-up included);
2. crash: 2 workers, one SIGKILLed mid-candidate; the other finishes the study; audit (no RUNNING
   trial, no orphan, every checkpoint loads and re-scores to its recorded accuracy) and the time
   from the kill until the killed trial is marked FAIL (same host: its pid is gone);
3. stale across hosts: the killed worker runs in its own UTS namespace (``unshare -u``, another
   host name), so the survivor can only go by heartbeat age (``--stale-after`` s).

Candidates only deepen, one transform each (``--mutations deepen --max-ops 1``), so that a
candidate's cost does not depend on the path the search takes: with widening, the two-worker
study once grew 60k-parameter candidates where the one-worker study stopped at 5k (same seeds;
the trajectories differ because the workers interleave), and the ratio measured the models, not
the workers. The training compute per wall second is printed beside the ratio as a check.

    .venv/bin/python experiments/bench_workers.py                     # all three, ~10 min idle
    .venv/bin/python experiments/bench_workers.py --only throughput --trials 24 --epochs 10
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


# ----------------------------------------------------------------------------- one worker
def _data(args: dict):
    import nas.data

    return nas.data.load("mnist1d", n_samples=args["n_samples"], batch_size=128, seed=0)


def worker(args: dict) -> None:
    """One search worker: library API only."""
    import torch

    torch.set_num_threads(1)
    from nas.models import model_spec
    from nas.search import SearchConfig, prepare_search
    from nas.train import Budget, TrainOptions

    cfg = SearchConfig(
        study=args["study"],
        trials=args["trials"],
        seed_epochs=args["seed_epochs"],
        stale_after=args["stale_after"],
        mutations=args["mutations"],
        max_ops=args["max_ops"],
        seed=0,
    )
    job = prepare_search(
        cfg,
        data=_data(args),
        seed_model=model_spec("cnn1d", widths=[8, 8], blocks=1, kernel_size=5),
        train=TrainOptions(budget=Budget(epochs=args["epochs"]), device="cpu", progress=False),
        storage=args["storage"],
        artifacts=args["artifacts"],
        run_dir=args["out"],
    )
    job.run()


# ----------------------------------------------------------------------------- the driver
def _launch(args: dict, name: str, *, other_host: str | None = None) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = f"{HERE.parents[1]}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, str(HERE), "--worker", json.dumps(args | {"out": args["out"] + name})]
    if other_host:  # a private host name: the survivor cannot see this worker's pid
        cmd = ["unshare", "--uts", "sh", "-c", f'hostname {other_host} && exec "$@"', "sh", *cmd]
    log = open(Path(args["artifacts"]).parent / f"{name}.log", "w")  # noqa: SIM115
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _study(args: dict):
    import optuna

    from nas.search.storage import open_storage

    return optuna.load_study(study_name=args["study"], storage=open_storage(args["storage"]))


def _audit(args: dict):
    from nas.search.audit import audit_study
    from nas.search.storage import artifact_store

    return audit_study(_study(args), artifact_store(args["artifacts"]), _data(args))


def _base(work: Path, study: str, opts: argparse.Namespace) -> dict:
    return {
        "study": study,
        "storage": f"sqlite:///{work}/nas.db",
        "artifacts": str(work / "artifacts"),
        "out": str(work / "run-"),
        "trials": opts.trials,
        "epochs": opts.epochs,
        "seed_epochs": opts.seed_epochs,
        "n_samples": opts.n_samples,
        "stale_after": opts.stale_after,
        "mutations": opts.mutations.split(","),
        "max_ops": opts.max_ops,
    }


def throughput(work: Path, n_workers: int, opts: argparse.Namespace) -> dict:
    args = _base(work, f"tp{n_workers}", opts)
    t0 = time.perf_counter()
    procs = [_launch(args, f"tp{n_workers}-w{i}") for i in range(n_workers)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    a = _audit(args)
    done = [t for t in _study(args).trials if t.state.name in ("COMPLETE", "PRUNED")]
    compute = sum(t.user_attrs.get("compute_seconds", 0.0) for t in done)
    return {
        "workers": n_workers,
        "wall_s": wall,
        "finished": a.finished,
        "per_hour": a.finished / wall * 3600,
        "train_compute_s": compute,  # sum over candidates: how big the candidates were
        "max_params": max(t.user_attrs.get("params", 0) for t in done),
        "exit_codes": codes,
        "audit_ok": a.ok,
        "contributors": len(a.workers),
        "load": os.getloadavg(),
    }


def crash(work: Path, opts: argparse.Namespace, *, other_host: str | None) -> dict:
    """Two workers; SIGKILL the second mid-candidate; time until its trial is FAIL."""
    from optuna.trial import TrialState

    args = _base(work, "crash-host" if other_host else "crash", opts)
    survivor = _launch(args, f"{args['study']}-survivor")
    victim = _launch(args, f"{args['study']}-victim", other_host=other_host)
    killed, t_kill, deadline = None, 0.0, time.monotonic() + 1800
    while killed is None and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.05)
        try:
            trials = _study(args).get_trials(deepcopy=False)
        except Exception:
            continue
        done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        for t in trials:
            w = t.user_attrs.get("worker") or {}
            mine = (w.get("host") == other_host) if other_host else w.get("pid") == victim.pid
            if done >= 3 and t.state == TrialState.RUNNING and mine and t.intermediate_values:
                victim.send_signal(signal.SIGKILL)
                killed, t_kill = t.number, time.perf_counter()
                break
    victim.wait()
    if killed is None:
        survivor.kill()
        return {"error": "the victim finished before it could be killed"}
    recovered_after = None
    while survivor.poll() is None or recovered_after is None:
        t = _study(args).trials[killed]
        if t.state == TrialState.FAIL and recovered_after is None:
            recovered_after = time.perf_counter() - t_kill
            reason = t.user_attrs.get("fail_reason")
        if survivor.poll() is not None and recovered_after is None:
            break
        time.sleep(0.1)
    code = survivor.wait()
    a = _audit(args)
    return {
        "killed_trial": killed,
        "recovered_after_s": recovered_after,
        "reason": reason if recovered_after is not None else None,
        "survivor_exit": code,
        "finished": a.finished,
        "running_left": a.running,
        "orphans": a.orphans,
        "checkpoints_checked": a.checked,
        "mismatches": a.mismatches,
        "load": os.getloadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--only", choices=["throughput", "crash", "stale"], action="append")
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed-epochs", type=int, default=10)
    ap.add_argument("--n-samples", type=int, default=4000)
    ap.add_argument("--stale-after", type=float, default=10.0)
    ap.add_argument("--mutations", default="deepen", help="comma-separated (see below)")
    ap.add_argument("--max-ops", type=int, default=1)
    ap.add_argument("--keep", help="work folder to keep (default: a temp folder, removed)")
    opts = ap.parse_args()
    if opts.worker:
        worker(json.loads(opts.worker))
        return
    only = set(opts.only or ["throughput", "crash", "stale"])
    work = Path(opts.keep or tempfile.mkdtemp(prefix="nas-bench-workers-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()}, work folder {work}", flush=True)
    results: dict = {}
    try:
        if "throughput" in only:
            one = throughput(work, 1, opts)
            print(json.dumps(one), flush=True)
            two = throughput(work, 2, opts)
            print(json.dumps(two), flush=True)
            results["throughput"] = [one, two]
            print(
                f"2 workers / 1 worker, finished candidates per hour: "
                f"{two['per_hour'] / one['per_hour']:.2f}x "
                f"({one['per_hour']:.0f} -> {two['per_hour']:.0f}/h; "
                f"wall {one['wall_s']:.0f} s -> {two['wall_s']:.0f} s for {opts.trials}); "
                f"training compute per wall second: "
                f"{two['train_compute_s'] / two['wall_s']:.2f} vs "
                f"{one['train_compute_s'] / one['wall_s']:.2f}",
                flush=True,
            )
        if "crash" in only:
            results["crash"] = crash(work, opts, other_host=None)
            print("crash, same host:", json.dumps(results["crash"]), flush=True)
        if "stale" in only:
            if shutil.which("unshare") is None:
                print("stale across hosts: skipped (no unshare)")
            else:
                results["stale"] = crash(work, opts, other_host="elsewhere")
                print("crash, other host name:", json.dumps(results["stale"]), flush=True)
    finally:
        (work / "results.json").write_text(json.dumps(results, indent=1))
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
