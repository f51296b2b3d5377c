"""Thread settings: the auto rule, the affinity it reads, and a wait policy libgomp really uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas.train.threads import ThreadPlan, available_cores, plan_threads

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (torch not yet imported), OMP_WAIT_POLICY unset."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    base |= {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"} | env
    return subprocess.run(
        [sys.executable, "-c", code], env=base, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "cores,workers,expected",
    [(8, None, 8), (8, 1, 8), (8, 3, 2), (8, 8, 1), (2, 4, 1), (2, 1, 2), (1, None, 1)],
)
def test_auto_shares_the_cores_among_the_workers(cores, workers, expected) -> None:
    plan = plan_threads("auto", workers=workers, cores=cores, env={})
    assert (plan.intra, plan.interop) == (expected, expected)
    assert plan.cores == cores and plan.workers == (workers or 1)
    assert f"{cores} core" in plan.reason


def test_auto_takes_omp_num_threads_when_the_user_set_it() -> None:
    plan = plan_threads("auto", workers=1, cores=8, env={"OMP_NUM_THREADS": "3"})
    assert plan.intra == 3 and "OMP_NUM_THREADS=3" in plan.reason
    # an unusable value is ignored, not trusted
    assert plan_threads("auto", cores=4, env={"OMP_NUM_THREADS": "0"}).intra == 4
    assert plan_threads("auto", cores=4, env={"OMP_NUM_THREADS": ""}).intra == 4


def test_a_number_is_used_as_given() -> None:
    assert plan_threads(3, cores=2, env={"OMP_NUM_THREADS": "1"}).intra == 3
    assert plan_threads("2", cores=8, env={}).intra == 2


@pytest.mark.parametrize("bad", [0, -1, "many", 1.5, True, None])
def test_bad_threads_is_one_clear_error(bad) -> None:
    with pytest.raises(ValueError, match=r"^threads must be a positive integer or auto, got"):
        plan_threads(bad, cores=2, env={})


@pytest.mark.parametrize("bad", [0, -2, "x", 2.5])
def test_bad_workers_is_one_clear_error(bad) -> None:
    with pytest.raises(ValueError, match=r"^workers must be a positive integer or null, got"):
        plan_threads("auto", workers=bad, cores=2, env={})


def test_available_cores_follows_the_affinity() -> None:
    assert available_cores() == len(os.sched_getaffinity(0))
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from nas.train.threads import plan_threads;"
        "p = plan_threads('auto', env={}); print(p.cores, p.intra)"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "1"]


def _spincount(stderr: str) -> int:
    """libgomp's spin count as it prints it (OMP_DISPLAY_ENV=verbose): 0 means PASSIVE.

    OMP_WAIT_POLICY is no use here: libgomp prints 'PASSIVE' for an unset policy too.
    """
    line = next(x for x in stderr.splitlines() if "GOMP_SPINCOUNT" in x)
    return int(line.split("=")[1].strip().strip("'"))


def test_passive_wait_reaches_libgomp_when_set_before_torch() -> None:
    code = (
        "from nas.train.threads import prefer_passive_wait;"
        "assert prefer_passive_wait();"
        "import torch; torch.ones(64, 64).sum()"
    )
    proc = _python(code, OMP_DISPLAY_ENV="verbose")
    assert proc.returncode == 0, proc.stderr
    assert _spincount(proc.stderr) == 0

    default = _python("import torch; torch.ones(64, 64).sum()", OMP_DISPLAY_ENV="verbose")
    assert _spincount(default.stderr) > 0  # torch's default: spinning threads


def test_passive_wait_after_torch_is_reported_as_too_late() -> None:
    code = (
        "import torch;"
        "from nas.train.threads import plan_threads, prefer_passive_wait;"
        "print(prefer_passive_wait()); print(plan_threads(1).describe())"
    )
    proc = _python(code, OMP_DISPLAY_ENV="verbose")
    assert proc.returncode == 0, proc.stderr
    assert _spincount(proc.stderr) > 0
    first, line = proc.stdout.splitlines()[:2]
    assert first == "False" and "too late" in line


def test_a_user_policy_is_kept() -> None:
    code = (
        "import os; from nas.train.threads import prefer_passive_wait;"
        "prefer_passive_wait(); print(os.environ['OMP_WAIT_POLICY'])"
    )
    proc = _python(code, OMP_WAIT_POLICY="ACTIVE")
    assert proc.stdout.strip() == "ACTIVE"


def test_apply_sets_torch_threads() -> None:
    code = (
        "from nas.train.threads import apply_threads, plan_threads;"
        "import torch;"
        "p = apply_threads(plan_threads(2, cores=2, env={}));"
        "print(p.intra, p.interop, torch.get_num_threads(), torch.get_num_interop_threads())"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2", "2", "2", "2"]


def test_describe_names_counts_reason_and_policy(monkeypatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    plan = ThreadPlan(intra=2, interop=2, cores=4, workers=2, reason="auto: 4 cores / 2 workers")
    line = plan.describe()
    assert line.startswith("threads: 2 intra-op, 2 inter-op (auto: 4 cores / 2 workers)")
    assert line.endswith("OpenMP wait policy PASSIVE")
