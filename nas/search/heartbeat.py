"""Trial heartbeats and stale-trial recovery, for workers on one machine or many.

Ask/tell records no heartbeat by itself, so a SIGKILLed worker would leave its trial RUNNING
forever. While a worker runs a trial, a daemon thread records Optuna's own trial heartbeat every
HEARTBEAT_INTERVAL seconds, whatever the main thread is doing (loading the parent, Net2Net,
training, uploading the checkpoint). The database server stamps the heartbeats, so the age that
decides staleness does not depend on the hosts' clocks. Every RECOVERY_EVERY seconds the same
thread fails other workers' stale trials, so a dead worker is noticed within about
``stale_after + RECOVERY_EVERY`` seconds even while every survivor is busy training.

A trial is stale when
- its worker ran on this host and that pid is gone (noticed at the next check), or
- its last database heartbeat is older than the storage's grace period (``search.stale_after``), or
- it never got a heartbeat (killed right after ``ask``, or run by an older version) and it started,
  or last wrote its ``worker`` attribute, more than ``stale_after`` seconds ago.
It is marked FAIL with a ``fail_reason``; its mutation is then free to be suggested again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import warnings
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import TrialState

__all__ = [
    "HEARTBEAT_INTERVAL",
    "RECOVERY_EVERY",
    "TrialHeartbeat",
    "fail_stale",
    "recover_stale",
    "worker_attr",
]

log = logging.getLogger(__name__)
# Study.ask warns when the storage has heartbeats on, because only Study.optimize records them by
# itself; the loop records them with TrialHeartbeat below, so the warning does not apply.
warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used", UserWarning)
HEARTBEAT_INTERVAL = 2  # seconds between heartbeats of a running trial (Optuna takes an int)
RECOVERY_EVERY = 5.0  # seconds between stale checks made by a running trial's heartbeat thread


def worker_attr() -> dict:
    """Who runs a trial and when it last showed life: lets others tell dead from busy.

    ``beats`` says that database heartbeats are recorded for the trial (written only once the
    first one is), so the heartbeat age decides, not this attribute's client-side time.
    """
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "heartbeat": time.time(),
        "beats": HEARTBEAT_INTERVAL,
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _heartbeats_on(storage: BaseStorage) -> bool:
    getter = getattr(storage, "get_heartbeat_interval", None)
    return bool(getter and getter())


def _stale_reason(t: Any, db_stale: set[int], stale_after: float, now: float) -> str | None:
    w = t.user_attrs.get("worker") or {}
    pid, here = w.get("pid"), w.get("host") == socket.gethostname()
    if here and pid == os.getpid():
        return None  # this process's own trial: alive by definition
    if here and pid and not _alive(pid):
        return f"stale: its worker (pid {pid} on {w['host']}) is gone (recovered)"
    if t._trial_id in db_stale:
        return (
            f"stale: no heartbeat for over {stale_after:.0f}s from its worker "
            f"(pid {pid} on {w.get('host')}) (recovered)"
        )
    if not w.get("beats"):  # never heartbeated: judge by the last sign of life it wrote
        last = w.get("heartbeat")
        if last is None:
            last = t.datetime_start.timestamp() if t.datetime_start else 0.0
        if now - last > stale_after:
            return f"stale: silent for over {stale_after:.0f}s, the process running it died (recovered)"
    return None


def fail_stale(storage: BaseStorage, study_id: int, stale_after: float) -> list[int]:
    """Mark the study's stale RUNNING trials FAIL with a reason; returns their numbers.

    Safe to run from several workers at once: a trial another worker (or its owner) finished in
    the meantime raises UpdateFinishedTrialError here and is skipped.
    """
    running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return []
    db_stale = set(storage._get_stale_trial_ids(study_id)) if _heartbeats_on(storage) else set()
    now, failed = time.time(), []
    for t in running:
        reason = _stale_reason(t, db_stale, stale_after, now)
        if reason is None:
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "fail_reason", reason)
            if storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                failed.append(t.number)
                log.warning("trial %d: %s", t.number, reason)
        except UpdateFinishedTrialError:
            pass
    return failed


def recover_stale(study: optuna.Study, stale_after: float) -> list[int]:
    """``fail_stale`` for a Study object (the form the loop and the tests use)."""
    return fail_stale(study._storage, study._study_id, stale_after)


class TrialHeartbeat:
    """A daemon thread that keeps one running trial alive in the storage and recovers others.

    ``with TrialHeartbeat(storage, study_id, stale_after) as beat: beat.start(trial)``: the
    thread starts with the trial (after a first heartbeat recorded synchronously) and stops when
    the block ends, however it ends, so a trial the process gave up on is never kept alive.
    """

    def __init__(self, storage: BaseStorage, study_id: int, stale_after: float) -> None:
        self.storage, self.study_id, self.stale_after = storage, study_id, stale_after
        self.recovered: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> TrialHeartbeat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, trial: optuna.Trial) -> None:
        """Record a first heartbeat, label the trial with its worker, start beating."""
        tid = trial._trial_id
        if _heartbeats_on(self.storage):
            self.storage.record_heartbeat(tid)
        self.storage.set_trial_user_attr(tid, "worker", worker_attr())
        self._thread = threading.Thread(
            target=self._run, args=(tid,), name=f"nas-heartbeat-{trial.number}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, trial_id: int) -> None:
        last_check = time.monotonic()
        while not self._stop.wait(HEARTBEAT_INTERVAL):
            try:
                if _heartbeats_on(self.storage):
                    self.storage.record_heartbeat(trial_id)
                if time.monotonic() - last_check >= RECOVERY_EVERY:
                    last_check = time.monotonic()
                    self.recovered += fail_stale(self.storage, self.study_id, self.stale_after)
            except Exception as exc:  # a busy database: try again at the next beat
                log.debug("heartbeat of trial id %d: %s", trial_id, exc)
