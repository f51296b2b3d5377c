"""The ask/tell loop: one Optuna trial per candidate, the root included, weights kept in-process.

Each trial: choose a parent, suggest a mutation, warm-start the child with Net2Net on the parent's
trained weights, check it still scores the parent's val accuracy, train it briefly (reporting each
epoch so a pruner can stop it), store its checkpoint as an artifact, tell the val accuracy.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState
from torch import nn

from nas.data import DataBundle
from nas.models import build_from_spec
from nas.net2net import Net2NetError
from nas.search import candidate as cand
from nas.search import storage as st
from nas.search import workers
from nas.search.callbacks import CallbackList, CandidateInfo, SearchCallback
from nas.search.config import SearchConfig
from nas.search.flops import count_flops, count_params
from nas.search.metrics import accuracy64, reinitialize
from nas.search.mutation import is_train_step
from nas.search.parents import choose_parent
from nas.search.progress import Progress, best_candidate
from nas.search.pruners import REFERENCE_ATTR
from nas.search.space import MutationError, describe, propose
from nas.train import TrainOptions, train

__all__ = ["SearchEnv", "Searcher"]

log = logging.getLogger(__name__)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_SECONDS = 2.0  # how often a training candidate writes its curve + heartbeat


@dataclass
class SearchEnv:
    """What the loop runs on: plain values, built by :func:`nas.search.prepare_search`."""

    data: DataBundle
    seed_spec: dict  # nas.models.model_spec(...) of the seed architecture
    storage_url: str
    artifacts_dir: Path
    out_dir: Path
    data_spec: dict = field(default_factory=dict)  # what defines the data (a resume must match)
    train: TrainOptions = field(default_factory=TrainOptions)  # per candidate; lr = the root's
    root_state_dict: dict | None = None  # model.checkpoint: grow a model trained elsewhere
    callbacks: list[SearchCallback] = field(default_factory=list)
    progress: bool = True
    run_config: dict | None = None  # the caller's whole resolved config, for the loggers


class _Reject(Exception):
    """End a trial early as PRUNED or FAIL with a recorded reason."""

    def __init__(self, state: TrialState, reason: str) -> None:
        super().__init__(reason)
        self.state, self.reason = state, reason


class Searcher:
    """Owns the study, the artifact store and an in-memory cache of trained candidates."""

    def __init__(self, cfg: SearchConfig, env: SearchEnv, study_name: str) -> None:
        self.cfg, self.env, self.name = cfg, env, study_name
        self.t0 = time.perf_counter()
        self.compute = 0.0
        self.trainings = 0  # training runs in this process (resume must not redo finished ones)
        self.cb = CallbackList(env.callbacks)
        x, _ = next(iter(env.data.train))
        self.batch = x
        self.example = x[:2]
        self.input_shape = tuple(env.data.input_shape)
        self.num_classes = env.data.num_classes
        self.storage = st.open_storage(env.storage_url, stale_after=cfg.stale_after)
        identity = {"seed_model": env.seed_spec, "data": env.data_spec, "seed": cfg.seed}
        self.study, self.resumed = st.open_study(self.storage, study_name, cfg, identity)
        self.store = st.artifact_store(env.artifacts_dir)
        self.recovered = st.recover_stale(self.study, cfg.stale_after)
        self.beat: workers.TrialHeartbeat | None = None  # the running trial's (nas.search.workers)
        self.cache: OrderedDict[int, nn.Module] = OrderedDict()
        self.opt_states: dict[int, dict] = {}  # trained optimizer state of cached models
        self.bad_parents: set[int] = set()
        self.progress = Progress(cfg, enabled=env.progress)

    # ----------------------------------------------------------------- bookkeeping
    def finished(self) -> int:
        return len(self.study.get_trials(deepcopy=False, states=FINISHED))

    def root(self) -> FrozenTrial | None:
        done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return next((t for t in done if t.user_attrs.get("job_type") == "root"), None)

    def model_of(self, t: FrozenTrial) -> nn.Module:
        """A finished candidate's trained model: from the cache, else rebuilt from its checkpoint."""
        if t.number in self.cache:
            self.cache.move_to_end(t.number)
            return self.cache[t.number]
        what = f"checkpoint of trial {t.number}"
        ref = t.user_attrs.get("checkpoint")
        if not ref:
            raise cand.CheckpointError(f"{what}: none stored")
        sd = cand.load_state_dict(self.store, ref, what=what)
        model = cand.build_candidate(
            self.env.seed_spec,
            t.user_attrs.get("arch", {}).get("path", []),
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            example_input=self.example,
            state_dict=sd,
            what=what,
        )
        self._remember(t.number, model)
        return model

    def load(self, t: FrozenTrial) -> nn.Module | None:
        """:meth:`model_of`, or None (noted, and never used as a parent again) when the
        checkpoint cannot be read or fails its checksum."""
        if t.number in self.bad_parents:
            return None
        try:
            return self.model_of(t)
        except cand.CheckpointError as exc:
            self.progress.note(f"trial {t.number} cannot be loaded: {exc}")
            self.bad_parents.add(t.number)
            return None

    def add_compute(self, seconds: float) -> None:
        """Count training done outside the loop (the final training) as compute, not overhead."""
        self.compute += seconds

    def timings(self) -> dict[str, float]:
        """Wall time so far, training compute, and the loop's overhead (all the rest)."""
        wall = time.perf_counter() - self.t0
        overhead = max(wall - self.compute, 0.0)
        return {
            "wall_seconds": wall,
            "compute_seconds": self.compute,
            "overhead_seconds": overhead,
            "overhead_fraction": overhead / wall if wall > 0 else 0.0,
            "trainings": self.trainings,
        }

    def _remember(self, number: int, model: nn.Module, opt_state: dict | None = None) -> None:
        self.cache[number] = model
        if opt_state is not None:
            self.opt_states[number] = opt_state
        while len(self.cache) > 16:
            old, _ = self.cache.popitem(last=False)
            self.opt_states.pop(old, None)

    # ----------------------------------------------------------------- the loop
    def run(self) -> None:
        """Ask/tell until the study holds ``cfg.trials`` finished candidates (or time is up)."""
        config = dataclasses.asdict(self.cfg)
        if self.env.run_config:  # data, model, train, ... as the caller resolved them
            config = {**self.env.run_config, "search": config}
        self.cb.on_search_start(self.name, config)
        self.progress.start(self)
        failures = 0
        while workers.work_left(self):  # other workers' RUNNING candidates count too
            over = self.cfg.time_limit and time.perf_counter() - self.t0 > self.cfg.time_limit
            if over and self.root() is not None:  # the root is always trained
                self.progress.note(f"time limit {self.cfg.time_limit:.0f}s reached: stopping")
                break
            if failures >= self.cfg.max_failures:
                self.progress.note(f"{failures} candidates failed in a row: stopping")
                break
            state = TrialState.FAIL  # stays so if another worker took the trial over as stale
            with workers.heartbeat(self):
                state = self.step()
            failures = failures + 1 if state == TrialState.FAIL else 0

    def step(self) -> TrialState:
        """One candidate, from ask to tell; returns its final state."""
        trial = self.study.ask()
        self.beat.start(trial)  # heartbeat in every phase, until the step ends
        info: CandidateInfo | None = None
        before: float | None = None
        try:
            if workers.admit(self, trial):  # the root? (raises if not needed)
                info, model, parent_acc, opt_state = self._root(trial)
            else:
                info, model, parent_acc, opt_state = self._child(trial)
            if info.job_type != "root" or self.env.root_state_dict is not None:
                before = accuracy64(model, self.env.data.val)
                trial.set_user_attr("val_acc_before", before)
                info.val_acc_before = before  # the loggers' epoch 0
            self.cb.on_candidate_start(info)
            if before is not None:
                self._check_preserved(trial, info, before, parent_acc)
            val, opt_state = self._train(trial, info, model, opt_state)
            cand.save_checkpoint(trial, model, self.store)
            self._remember(trial.number, model, opt_state)
            self.study.tell(trial, [val] if len(self.cfg.directions) == 1 else [val, info.params])
            state, reason, acc = TrialState.COMPLETE, None, val
        except _Reject as rej:
            state, reason, acc = rej.state, rej.reason, None
        except (cand.CheckpointError, Net2NetError, MutationError, LookupError) as exc:
            state, reason, acc = TrialState.FAIL, f"{type(exc).__name__}: {exc}", None
        if state != TrialState.COMPLETE:
            key = "prune_reason" if state == TrialState.PRUNED else "fail_reason"
            trial.set_user_attr(key, reason)
            self.study.tell(trial, state=state)
            if state == TrialState.FAIL:
                log.warning("trial %d failed: %s", trial.number, reason)
        best = best_candidate(self.study)
        result = {
            "state": state.name.lower(),
            "val_acc": acc,
            "val_acc_before_training": before,
            "reason": reason,
            "finished": self.finished(),  # the study's count: continues across resumes
            "best_trial": best[0] if best else None,
            "best_val_acc": best[1] if best else None,
        }
        if info is not None:
            self.cb.on_candidate_end(info, result)
        self.progress.candidate(self, trial.number, info, result)
        return state

    # ----------------------------------------------------------------- candidates
    def _info(self, trial: optuna.Trial, model: nn.Module, **kw: Any) -> CandidateInfo:
        params, flops = count_params(model), count_flops(model, self.example)
        info = CandidateInfo(
            study_name=self.name, trial_number=trial.number, params=params, flops=flops, **kw
        )
        for key in ("parent", "mutation", "arch", "params", "flops", "hparams", "job_type"):
            trial.set_user_attr(key, getattr(info, key))
        trial.set_user_attr("warm_start", info.warm_start)
        trial.set_user_attr("curve", [])
        return info

    def _root(
        self, trial: optuna.Trial
    ) -> tuple[CandidateInfo, nn.Module, float | None, dict | None]:
        torch.manual_seed(self.cfg.seed)
        model = build_from_spec(
            self.env.seed_spec, input_shape=self.input_shape, num_classes=self.num_classes
        )
        if self.env.root_state_dict is not None:
            model.load_state_dict(self.env.root_state_dict, strict=True)
            trial.set_user_attr("pretrained", True)
        arch = {"seed": self.env.seed_spec, "path": []} | describe(model, self.example)
        hparams = {"lr": self.env.train.lr, "lr_ratio": 1.0, "noise": 0.0}
        info = self._info(
            trial, model, parent=None, mutation=[], arch=arch, hparams=hparams,
            warm_start=self.cfg.warm_start, job_type="root",
        )  # fmt: skip
        return info, model, None, None

    def _child(
        self, trial: optuna.Trial
    ) -> tuple[CandidateInfo, nn.Module, float | None, dict | None]:
        cfg = self.cfg
        parent = choose_parent(trial, self.study, cfg.parent, cfg.tournament_k, self.bad_parents)
        trial.set_user_attr("parent", parent.number)  # recorded even if the mutation fails
        trial.set_user_attr("job_type", "candidate")
        try:
            teacher = self.model_of(parent)
        except cand.CheckpointError:
            self.bad_parents.add(parent.number)
            raise
        noise = (
            trial.suggest_categorical("noise", cfg.noise) if len(cfg.noise) > 1 else cfg.noise[0]
        )
        lo, hi = cfg.lr_ratio
        ratio = trial.suggest_float("lr_ratio", lo, hi, log=True) if lo < hi else lo
        if not cfg.warm_start:
            ratio = 1.0  # scratch students start from random init: the teacher's full lr
        teacher_state = self.opt_states.get(parent.number)
        grow = cfg.warm_start and cfg.grow_optimizer and teacher_state is not None
        # the transforms build a new model and leave the teacher as it was (tested), so the
        # teacher is passed as is: its analyses from describe() are found again in the cache
        model, mutation, opt_state = propose(
            trial, teacher, self.example, mutations=cfg.mutations,
            widen_factors=cfg.widen_factors, max_ops=cfg.max_ops, noise=noise,
            seed=cfg.seed * 100_003 + trial.number, data=[self.batch], split=cfg.split,
            widen_init=cfg.widen_init, optimizer_state=teacher_state if grow else None,
        )  # fmt: skip
        workers.refuse_twin(self.study, trial, parent.number, mutation)
        if not cfg.warm_start:
            reinitialize(model, cfg.seed * 100_003 + trial.number)
        path = parent.user_attrs.get("arch", {}).get("path", []) + mutation
        arch = {"seed": self.env.seed_spec, "path": path} | describe(model, self.example)
        hparams = {"lr": self.env.train.lr * ratio, "lr_ratio": ratio, "noise": noise}
        opt_kw = {
            k: trial.suggest_float(k, lo, hi, log=True) for k, (lo, hi) in cfg.hparams.items()
        }
        hparams |= {"optimizer": opt_kw} if opt_kw else {}
        info = self._info(
            trial, model, parent=parent.number, mutation=mutation, arch=arch, hparams=hparams,
            warm_start=cfg.warm_start, job_type="candidate",
        )  # fmt: skip
        self._constrain(trial, info)
        parent_acc = parent.values[0] if cfg.warm_start else None
        trial.set_user_attr(REFERENCE_ATTR, parent_acc if parent_acc is not None else 0.0)
        trial.set_user_attr("grown_optimizer", opt_state is not None)
        return info, model, parent_acc, opt_state

    def _constrain(self, trial: optuna.Trial, info: CandidateInfo) -> None:
        """Record constraint values for the sampler, and refuse to train a violator."""
        limits = [
            (self.cfg.max_params, info.params, "params"),
            (self.cfg.max_flops, info.flops, "flops"),
        ]
        values = [float(v - lim) if lim else 0.0 for lim, v, _ in limits]
        trial.set_user_attr("constraints", values)
        for (_, _, what), value in zip(limits, values, strict=True):
            trial.set_constraint(f"max_{what}", value)
        for (lim, v, what), excess in zip(limits, values, strict=True):
            if excess > 0:
                raise _Reject(TrialState.PRUNED, f"constraint: {what} {v} > max {lim}")

    def _check_preserved(
        self, trial: optuna.Trial, info: CandidateInfo, before: float, parent_acc: float | None
    ) -> None:
        """The function-preservation promise, checked on every warm-started candidate."""
        if parent_acc is None:
            return
        ok = before == parent_acc
        trial.set_user_attr("preserved", ok)
        if not ok and info.hparams.get("noise", 0.0) == 0.0 and self.cfg.strict_preservation:
            msg = f"function preservation violated: val acc {before:.6f} != parent {parent_acc:.6f}"
            log.error("trial %d: %s", trial.number, msg)
            raise _Reject(TrialState.FAIL, msg)

    def _train(
        self, trial: optuna.Trial, info: CandidateInfo, model: nn.Module, opt_state: dict | None
    ) -> tuple[float, dict | None]:
        """Train under the budget, reporting each epoch; returns the float64 val accuracy and
        the optimizer's final state (the next students' warm optimizer)."""
        if info.job_type == "root" and self.env.root_state_dict is not None:
            return accuracy64(model, self.env.data.val), None  # grown as given: no retraining
        options = self.env.train
        if info.job_type == "root" and self.cfg.seed_epochs:
            options = options.with_epochs(self.cfg.seed_epochs)
        if self.cfg.train_epochs and is_train_step(info.mutation):
            options = options.with_epochs(self.cfg.train_epochs)
        kw = options.train_kwargs(
            lr=float(info.hparams["lr"]), **dict(info.hparams.get("optimizer", {}))
        )
        kw["progress"] = options.progress and self.env.progress
        can_prune = info.job_type != "root" and len(self.cfg.directions) == 1
        curve: list[dict] = []
        last_write = [time.perf_counter()]

        def on_epoch(rec: Any) -> bool:
            r = dataclasses.asdict(rec) if dataclasses.is_dataclass(rec) else dict(rec)
            curve.append(r)
            if time.perf_counter() - last_write[0] > HEARTBEAT_SECONDS:  # few storage writes
                trial.set_user_attr("curve", curve)
                trial.set_user_attr("worker", st.worker_attr())
                last_write[0] = time.perf_counter()
            self.cb.on_epoch(info, r)
            if not can_prune or not math.isfinite(r["val_acc"]):
                return False
            trial.report(r["val_acc"], r["epoch"])
            # train() ignores it at the last epoch: a finished result (maybe the new best, a
            # warm child with a small gain over a strong parent) is never thrown away
            return trial.should_prune()

        res = train(
            model, self.env.data, seed=self.cfg.seed + trial.number, on_epoch=on_epoch,
            optimizer_state=opt_state, exact_val=True, **kw,
        )  # fmt: skip
        trial.set_user_attr("curve", curve)
        self.trainings += 1
        self.compute += float(res.compute_seconds)
        trial.set_user_attr("compute_seconds", float(res.compute_seconds))
        trial.set_user_attr("train_status", res.status)
        if res.status == "diverged":
            raise _Reject(TrialState.PRUNED, f"diverged: {res.message or 'non-finite loss'}")
        if res.status == "stopped":
            raise _Reject(TrialState.PRUNED, f"pruned by {self.cfg.pruner} at epoch {len(curve)}")
        # exact_val: the last epoch's val accuracy is accuracy64(model), without another pass
        return res.final_val_acc, res.optimizer_state
