"""How many CPU threads torch uses, and an OpenMP wait policy that does not spin.

torch's defaults suit a machine to itself: one intra-op thread per core, and OpenMP threads
that spin (busy-wait) between parallel regions. Beside other busy processes the spinning threads
fight them for the cores: on 2 shared cores one epoch of a 61k-parameter mnist1d candidate took
75-86 s at 2 threads against 8-9 s at 1. Two things fix it:

* ``OMP_WAIT_POLICY=PASSIVE``: idle OpenMP threads sleep instead of spinning. libgomp (torch's
  OpenMP runtime) reads it once, when it is loaded, i.e. at ``import torch``; there is no call
  to change it later. :func:`prefer_passive_wait` therefore has to run before torch is imported
  (the console entry points call it first thing).
* the thread count, from the cores this process may use (``os.sched_getaffinity``) divided
  among the workers that share them (:func:`plan_threads`), applied with
  :func:`apply_threads`.

This module imports torch only inside :func:`apply_threads`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ThreadPlan",
    "apply_threads",
    "available_cores",
    "plan_threads",
    "prefer_passive_wait",
]

WAIT_POLICY = "PASSIVE"
_late = False  # prefer_passive_wait() ran after libgomp was loaded: the policy is not in effect


def prefer_passive_wait(env: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy; call before ``import torch``.

    Returns:
        True when the process's OpenMP runtime will use the policy now in the environment,
        False when torch (and with it libgomp) was already imported, so it came too late.
    """
    global _late
    env = os.environ if env is None else env
    if "OMP_WAIT_POLICY" not in env:
        env["OMP_WAIT_POLICY"] = WAIT_POLICY
        _late = "torch" in sys.modules
    return not _late


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under ``taskset`` or a cgroup)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    """The thread counts chosen for this process, and why."""

    intra: int  # torch.set_num_threads
    interop: int  # torch.set_num_interop_threads
    cores: int  # cores this process may use
    workers: int  # processes sharing those cores
    reason: str  # e.g. "auto: 2 cores / 1 worker"

    def describe(self) -> str:
        """One line for the start of a run."""
        policy = os.environ.get("OMP_WAIT_POLICY") or "unset (OpenMP threads spin)"
        if _late:
            policy += " (too late: torch was imported before it was set)"
        return (
            f"threads: {self.intra} intra-op, {self.interop} inter-op ({self.reason}); "
            f"OpenMP wait policy {policy}"
        )


def _positive_int(value: object, what: str, other: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer or {other}, got {value!r}")
    return value


def plan_threads(
    threads: int | str = "auto",
    *,
    workers: int | None = None,
    cores: int | None = None,
    env: Mapping[str, str] | None = None,
) -> ThreadPlan:
    """Choose the intra-op (and inter-op) thread count.

    ``auto``: ``OMP_NUM_THREADS`` when the environment sets it (the user's explicit choice),
    else ``cores // workers`` (at least 1), so that the workers sharing a machine together use
    each core once and none waits on a descheduled thread of its own. A number is used as given.

    Args:
        threads: ``"auto"`` or a positive integer.
        workers: processes sharing this process's cores (e.g. a launcher's parallel jobs);
            None: 1. More workers than cores gives 1 thread each.
        cores: the cores to share; None: :func:`available_cores`.
        env: the environment to read ``OMP_NUM_THREADS`` from (default ``os.environ``).

    Raises:
        ValueError: ``threads`` is neither ``auto`` nor a positive integer, or ``workers`` is
            not a positive integer (one line).
    """
    env = os.environ if env is None else env
    ncores = available_cores() if cores is None else max(1, int(cores))
    nworkers = 1 if workers is None else _positive_int(workers, "workers", "null")
    if isinstance(threads, str) and threads.strip().lower() == "auto":
        omp = (env.get("OMP_NUM_THREADS") or "").split(",")[0].strip()
        if omp.isdigit() and int(omp) > 0:
            n, reason = int(omp), f"auto: OMP_NUM_THREADS={omp}"
        else:
            n = max(1, ncores // nworkers)
            reason = f"auto: {ncores} core{'s' * (ncores != 1)} / {nworkers} worker" + (
                "s" * (nworkers != 1)
            )
    else:
        n, reason = _positive_int(threads, "threads", "auto"), "threads setting"
    return ThreadPlan(intra=n, interop=n, cores=ncores, workers=nworkers, reason=reason)


def apply_threads(plan: ThreadPlan) -> ThreadPlan:
    """Set torch's thread counts from ``plan``; returns the plan as torch now reports it.

    The inter-op count can only be set before torch's first inter-op work; if that has
    happened, the current inter-op count is kept and reported.
    """
    import torch

    torch.set_num_threads(plan.intra)
    # RuntimeError once inter-op work has started: the current count stays (and is reported)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(plan.interop)
    return ThreadPlan(
        intra=torch.get_num_threads(),
        interop=torch.get_num_interop_threads(),
        cores=plan.cores,
        workers=plan.workers,
        reason=plan.reason,
    )
