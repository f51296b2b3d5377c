"""Several workers, one study: when to start a candidate, who trains the root, no twin children.

Any number of `nas-search` processes (one machine or many) may run the same ``search.study`` on
the same storage. Nothing here talks to the other workers directly: the study in the storage is
the only shared state, so a worker can join, die or finish at any time.

- **Budget.** A worker starts a candidate only while the finished candidates plus those RUNNING
  elsewhere fall short of ``search.trials``; otherwise it waits (polling, recovering stale
  trials), because a RUNNING trial may still fail. Of trials asked at the same instant the
  lower-numbered go first; one that would exceed the budget fails untrained ("not needed"), so
  the study ends at exactly ``trials``. A worker stops once the study holds ``trials`` finished
  candidates and nothing is RUNNING, so no trial of a dead worker is left behind.
- **Root.** The seed model is trained once: while the study has no root and a trial is RUNNING
  elsewhere, a worker waits; of two trials asked at the same instant the higher-numbered one
  fails untrained. If the root's worker dies, its trial is recovered and another worker trains
  the root. A child grows a parent that was COMPLETE when the child chose it.
- **Twins.** A child whose parent and mutation equal those of a trial RUNNING elsewhere is
  refused (FAIL, before training); the mutation is written before the comparison, so of two
  simultaneous twins at least one sees the other.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from nas.models import build_from_spec
from nas.search.heartbeat import TrialHeartbeat, recover_stale
from nas.search.mutation import Mutation
from nas.search.space import MutationError, describe

if TYPE_CHECKING:
    from nas.search.loop import Searcher

__all__ = ["POLL_SECONDS", "admit", "heartbeat", "mutation_key", "refuse_twin", "work_left"]

POLL_SECONDS = 1.0  # how often a waiting worker re-reads the study
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _out_of_time(s: Searcher) -> bool:
    return bool(s.cfg.time_limit) and time.perf_counter() - s.t0 > s.cfg.time_limit


def _recover(s: Searcher) -> None:
    s.recovered = [*s.recovered, *recover_stale(s.study, s.cfg.stale_after)]


def work_left(s: Searcher) -> bool:
    """True: start another candidate. False: the study is done (or this worker's time is up).

    Blocks while other workers' RUNNING candidates cover what is left of the budget.
    """
    waiting = False
    while True:
        _recover(s)
        trials = s.study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
        finished = sum(t.state in FINISHED for t in trials)
        running = len(trials) - finished
        if finished >= s.cfg.trials and running == 0:
            return False
        if finished + running < s.cfg.trials and (running == 0 or s.root() is not None):
            return True  # (while another worker trains the root there is nothing to grow)
        if _out_of_time(s):
            return finished < s.cfg.trials  # the loop's own time check then stops it
        if not waiting:
            waiting = True
            _warm_up(s)
            what = "the root" if finished < s.cfg.trials and s.root() is None else "them"
            s.progress.note(
                f"{finished}/{s.cfg.trials} finished, {running} RUNNING in other workers: "
                f"waiting for {what}"
            )
        time.sleep(POLL_SECONDS)


def _warm_up(s: Searcher) -> None:
    """Pay this process's first-use costs (torch.fx tracing, torch._dynamo's import: ~1.5 s
    idle, far more on a busy machine) while waiting, not in the first candidate."""
    if getattr(s, "_warm", False):
        return
    s._warm = True
    model = build_from_spec(s.env.seed_spec, input_shape=s.input_shape, num_classes=s.num_classes)
    describe(model, s.example)


def admit(s: Searcher, trial: optuna.Trial) -> bool:
    """Whether the newly asked ``trial`` trains the seed model (the study has no root and no
    lower-numbered trial is RUNNING). Lower numbers go first: raises LookupError, so the trial
    fails untrained, when lower-numbered RUNNING trials already cover the rest of the budget
    (two workers passed ``work_left`` at the same instant) or one of them trains the root."""
    trials = s.study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
    finished = sum(t.state in FINISHED for t in trials)
    lower = [t.number for t in trials if t.state == TrialState.RUNNING and t.number < trial.number]
    if finished + len(lower) >= s.cfg.trials:
        raise LookupError(
            f"not needed: {finished} finished + {len(lower)} RUNNING in other workers reach "
            f"search.trials={s.cfg.trials}"
        )
    if s.root() is not None:
        return False
    if lower:
        raise LookupError(f"trial {min(lower)} in another worker is training the root")
    return True


def mutation_key(mutation: Any) -> tuple:
    """What makes two mutations the same transform: (op, target, width) of each step."""
    return tuple(Mutation.from_json(m).key() for m in mutation or [])


def refuse_twin(study: optuna.Study, trial: optuna.Trial, parent: int, mutation: list) -> None:
    """Raise MutationError when a trial RUNNING elsewhere grows ``parent`` by ``mutation``."""
    trial.set_user_attr("mutation", mutation)  # written first: one of two twins sees the other
    key = mutation_key(mutation)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if (
            t.number != trial.number
            and t.user_attrs.get("parent") == parent
            and mutation_key(t.user_attrs.get("mutation")) == key
        ):
            raise MutationError(
                f"duplicate: trial {t.number} is already growing trial {parent} by this mutation"
            )


@contextlib.contextmanager
def heartbeat(s: Searcher) -> Iterator[TrialHeartbeat]:
    """``s.beat`` for one step: the step starts it on its trial; it stops when the step ends."""
    with TrialHeartbeat(s.storage, s.study._study_id, s.cfg.stale_after) as beat:
        s.beat = beat
        try:
            yield beat
        except UpdateFinishedTrialError as exc:  # silent past stale_after (suspended, DB away)
            s.progress.note(f"this worker's trial was marked stale by another worker: {exc}")
        finally:
            s.recovered = [*s.recovered, *beat.recovered]
