"""Weights & Biases backend: one run per candidate plus one search-level run.

Layout on a wandb dashboard (all runs of a study share ``group = study name``):

* candidate runs, ``name = "<study>-t<number>"``, ``job_type`` ``"root"`` or ``"candidate"``:
  config ``study, trial, parent, mutation, mutation_desc, arch, params, flops, hparams,
  warm_start``; history per epoch (``step = epoch``, x axis ``epoch``): ``val_acc``, ``val_loss``,
  ``train_loss``, ``lr``, ``epoch_seconds`` (that epoch's time). A warm-started child's curve
  starts at epoch 0 with ``val_acc`` = its accuracy right after the Net2Net transform, before
  training (its parent's accuracy: the head start). Summary ``final_val_acc``,
  ``best_val_acc``, ``val_acc_before``, ``state``, ``reason``, ``epochs``. A failed candidate
  exits with code 1.
* the search run, ``name = id = "<study>-search"`` (``resume="allow"``: a resumed search
  continues the same run), ``job_type = "search"``: config = the whole resolved configuration
  when the caller passes it (data, model, train, search, ...); history per finished candidate
  (``step`` = x axis ``candidates_finished``, the study's count, so it goes on where the last
  process stopped): ``best_val_acc`` (best so far), ``candidate_val_acc``, ``candidate_trial``;
  at the end ``lineage`` (a ``wandb.Table`` with ``nas.tracking.rows.TABLE_COLUMNS``),
  ``best_so_far`` (table: number, elapsed, best_val_acc), ``lineage_tree`` and
  ``accuracy_curves`` (images); summary ``best_trial``, ``best_val_acc``, ``candidates``.

Offline by default. Online mode with no network would block for ``init_timeout`` seconds; on
any init error the tracker warns once and continues offline (``wandb sync`` uploads later).
Offline, each process writes its own ``offline-run-*`` folder; a resumed search's folders carry
the same run id and the resume flag, and ``wandb sync`` appends them to one run.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import wandb

from nas.search.callbacks import CandidateInfo, SearchCallback
from nas.search.mutation import format_mutation
from nas.tracking.base import summary_rows, summary_value
from nas.tracking.plots import plot_curves, plot_lineage_tree
from nas.tracking.rows import TABLE_COLUMNS, best_number, table_data

EPOCH_METRICS = ("val_acc", "val_loss", "train_loss", "lr")
SEARCH_METRICS = ("best_val_acc", "candidate_val_acc", "candidate_trial")


class WandbTracker(SearchCallback):
    """Log a search to wandb (see the module docstring for what goes where).

    Args:
        project: wandb project.
        entity: wandb entity (team or user); None for the default.
        mode: ``"offline"`` (default), ``"online"`` or ``"disabled"``.
        dir: folder that receives ``wandb/``; None for the current directory.
        init_timeout: seconds ``wandb.init`` may wait for the server in online mode.
        tags: tags added to every run.
        plots: log the lineage-tree and accuracy-curve pictures at the end of the search.
    """

    def __init__(
        self,
        project: str = "nas",
        entity: str | None = None,
        mode: str = "offline",
        dir: str | os.PathLike[str] | None = None,
        init_timeout: float = 15.0,
        tags: Iterable[str] = (),
        plots: bool = True,
    ) -> None:
        if mode not in ("offline", "online", "disabled"):
            raise ValueError(
                f"logger.mode: unknown wandb mode '{mode}'; choose offline, online or disabled"
            )
        self.project, self.entity, self.mode = project, entity, mode
        self.dir = Path(dir) if dir is not None else None
        self.init_timeout = float(init_timeout)
        self.tags = [str(t) for t in tags]
        self.plots = plots
        os.environ.setdefault("WANDB_SILENT", "true")
        self.study: str | None = None
        self.search_run: Any = None
        self._runs: dict[int, Any] = {}
        self._last_step: dict[int, int] = {}
        self._rows: dict[int, dict[str, Any]] = {}
        self._finished = 0
        self._best: float | None = None
        self._step = -1  # the search run's last step (= candidates_finished)
        self._seconds: dict[int, float] = {}  # a candidate's cumulative train seconds so far

    # -- wandb plumbing ---------------------------------------------------------------------
    def _settings(self, mode: str, requirements: bool) -> wandb.Settings:
        # the installed-package list costs ~0.1-0.2 s per init and is the same for every run of
        # a search: only the search run records it
        return wandb.Settings(
            mode=mode,
            init_timeout=self.init_timeout,
            silent=True,
            quiet=True,
            console="off",
            save_code=False,
            x_disable_stats=True,
            x_disable_meta=True,
            x_save_requirements=requirements,
        )

    def _init(
        self, name: str, job_type: str, config: Mapping[str, Any], run_id: str | None = None
    ) -> Any:
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {
            "project": self.project,
            "entity": self.entity,
            "group": self.study,
            "job_type": job_type,
            "name": name,
            "config": dict(config),
            "tags": self.tags,
            "dir": None if self.dir is None else str(self.dir),
            "reinit": "create_new",
        }
        if run_id is not None:  # the same id in every process: wandb appends to that run
            kwargs |= {"id": run_id, "resume": "allow"}
        try:
            return wandb.init(settings=self._settings(self.mode, job_type == "search"), **kwargs)
        except Exception as exc:  # wandb raises CommError/UsageError/... with no network or key
            if self.mode != "online":
                raise
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            warnings.warn(
                f"wandb: online init failed ({first_line}); logging offline instead "
                "(upload later with `wandb sync`)",
                RuntimeWarning,
                stacklevel=3,
            )
            self.mode = "offline"
            if run_id is not None and self.search_run is None and not self._runs:
                wandb.teardown()  # the failed init still holds the id ("run ID ... is in use")
            return wandb.init(settings=self._settings("offline", job_type == "search"), **kwargs)

    def _ensure_search_run(self, study: str) -> Any:
        if self.search_run is None:
            self.study = self.study or study
            run = self._init(
                f"{self.study}-search", "search", {"study": self.study}, search_run_id(self.study)
            )
            run.define_metric("candidates_finished")
            for key in SEARCH_METRICS:
                run.define_metric(key, step_metric="candidates_finished")
            self.search_run = run
        return self.search_run

    # -- SearchCallback -----------------------------------------------------------------------
    def on_search_start(self, study_name: str, config: dict) -> None:
        """Open the search-level run with the search config."""
        self.study = study_name
        run = self._ensure_search_run(study_name)
        run.config.update(dict(config or {}), allow_val_change=True)

    def on_candidate_start(self, info: CandidateInfo) -> None:
        """Open the candidate's run with its lineage, architecture and hyperparameters."""
        self._ensure_search_run(info.study_name)
        old = self._runs.pop(info.trial_number, None)
        if old is not None:
            old.finish(exit_code=1)
        run = self._init(
            f"{self.study}-t{info.trial_number}", info.job_type, candidate_config(info)
        )
        run.define_metric("epoch")
        for key in (*EPOCH_METRICS, "epoch_seconds"):
            run.define_metric(key, step_metric="epoch")
        self._runs[info.trial_number] = run
        self._last_step[info.trial_number] = -1
        self._seconds[info.trial_number] = 0.0
        self._rows[info.trial_number] = _row(info)
        before = getattr(info, "val_acc_before", None)
        if before is not None:  # epoch 0: the warm start's accuracy, before any training
            run.log({"epoch": 0, "val_acc": float(before)}, step=0)
            self._last_step[info.trial_number] = 0

    def on_epoch(self, info: CandidateInfo, record: dict) -> None:
        """Log one epoch: ``step = epoch`` so curves line up across candidates."""
        run = self._runs.get(info.trial_number)
        if run is None:
            self.on_candidate_start(info)
            run = self._runs[info.trial_number]
        epoch = int(record.get("epoch", self._last_step[info.trial_number] + 1))
        data = {k: float(record[k]) for k in EPOCH_METRICS if record.get(k) is not None}
        if record.get("seconds") is not None:  # cumulative since training began
            total = float(record["seconds"])
            data["epoch_seconds"] = total - self._seconds.get(info.trial_number, 0.0)
            self._seconds[info.trial_number] = total
        data["epoch"] = epoch
        if epoch > self._last_step[info.trial_number]:
            run.log(data, step=epoch)
            self._last_step[info.trial_number] = epoch
        else:  # a repeated epoch number (e.g. a retried fit): keep wandb's step monotonic
            run.log(data)
        if "val_acc" in data:
            self._rows[info.trial_number].setdefault("curve", []).append(data["val_acc"])

    def on_candidate_end(self, info: CandidateInfo, result: dict) -> None:
        """Write the candidate's summary, finish its run and extend the best-so-far curve."""
        run = self._runs.pop(info.trial_number, None)
        if run is None:
            self.on_candidate_start(info)
            run = self._runs.pop(info.trial_number)
        state = str(result.get("state", "complete")).lower()
        val_acc = result.get("val_acc")
        before = result.get("val_acc_before_training", result.get("val_acc_before"))
        row = self._rows.setdefault(info.trial_number, _row(info))
        curve = row.get("curve", [])
        row.update(state=state, val_acc=val_acc, val_acc_before=before)
        summary = {
            "state": state,
            "reason": str(result.get("reason") or ""),
            "final_val_acc": val_acc,
            "best_val_acc": max(curve) if curve else val_acc,
            "val_acc_before": before,
            "epochs": len(curve),
        }
        run.summary.update({k: v for k, v in summary.items() if v is not None})
        run.finish(exit_code=1 if state == "fail" else 0)
        self._last_step.pop(info.trial_number, None)
        self._seconds.pop(info.trial_number, None)

        # The study's own count and best (they include an earlier process's candidates when
        # the search was resumed); a caller that does not send them gets this process's.
        self._finished = int(result.get("finished") or self._finished + 1)
        if state == "complete" and val_acc is not None:
            self._best = val_acc if self._best is None else max(self._best, val_acc)
        if result.get("best_val_acc") is not None:
            self._best = float(result["best_val_acc"])
        point: dict[str, Any] = {
            "candidates_finished": self._finished,
            "candidate_trial": info.trial_number,
        }
        if self._best is not None:
            point["best_val_acc"] = self._best
        if val_acc is not None:
            point["candidate_val_acc"] = val_acc
        self._log_search(info.study_name, point, self._finished)

    def _log_search(self, study: str, data: dict[str, Any], step: int) -> None:
        """Log to the search run at ``step``; a step already passed joins the latest row."""
        run = self._ensure_search_run(study)
        if step > self._step:
            self._step = step
        run.log(data, step=self._step)

    def on_search_end(self, summary: Any) -> None:
        """Log the lineage table and pictures to the search run and finish every run."""
        rows = summary_rows(summary) or sorted(self._rows.values(), key=lambda r: r["number"])
        run = self._ensure_search_run(self.study or getattr(summary, "study_name", "search"))
        tests = {
            summary_value(summary, "best_trial"): summary_value(summary, "test_acc"),
            (summary_value(summary, "best_path") or [None])[0]: summary_value(
                summary, "root_test_acc"
            ),
        }
        payload: dict[str, Any] = {
            "lineage": wandb.Table(
                columns=list(TABLE_COLUMNS),
                data=table_data(rows, test_acc={k: v for k, v in tests.items() if k is not None}),
            )
        }
        if self.plots and rows:
            tree_png = Path(run.dir) / "lineage_tree.png"
            curves_png = Path(run.dir) / "accuracy_curves.png"
            plot_lineage_tree(rows, tree_png, title=self.study or "lineage")
            plot_curves(rows, curves_png)
            payload["lineage_tree"] = wandb.Image(str(tree_png))
            payload["accuracy_curves"] = wandb.Image(str(curves_png))
        curve = summary_value(summary, "best_so_far") or []
        if curve:
            keys = list(curve[0])
            payload["best_so_far"] = wandb.Table(
                columns=keys, data=[[p.get(k) for k in keys] for p in curve]
            )
        counts = summary_value(summary, "counts") or {}
        finished = int(counts.get("complete", 0)) + int(counts.get("pruned", 0))
        self._log_search(self.study or "search", payload, max(finished, self._step, 0))
        run.summary.update(_search_summary(summary, rows))
        self.close()

    def close(self) -> None:
        """Finish any run still open (candidate runs as failed). Safe to call twice."""
        for run in self._runs.values():
            run.finish(exit_code=1)
        self._runs.clear()
        if self.search_run is not None:
            self.search_run.finish()
            self.search_run = None


def search_run_id(study: str) -> str:
    """The search run's wandb id, derived from the study name (the same in every process).

    wandb ids may not hold ``/ \\ # ? % :`` and are at most 64 characters; a name that had
    to change keeps a short hash of the original, so two studies never share an id by accident.
    """
    clean = re.sub(r"[^A-Za-z0-9._-]", "-", study)
    if clean != study or len(clean) > 50:
        clean = f"{clean[:50]}-{hashlib.sha1(study.encode()).hexdigest()[:6]}"
    return f"{clean}-search"


def candidate_config(info: CandidateInfo) -> dict[str, Any]:
    """The wandb config of one candidate run."""
    return {
        "study": info.study_name,
        "trial": info.trial_number,
        "parent": info.parent,
        "mutation": list(info.mutation),
        "mutation_desc": format_mutation(info.mutation),
        "arch": dict(info.arch),
        "params": int(info.params),
        "flops": int(info.flops),
        "hparams": dict(info.hparams),
        "warm_start": bool(info.warm_start),
    }


def _row(info: CandidateInfo) -> dict[str, Any]:
    return {
        "number": info.trial_number,
        "parent": info.parent,
        "state": "running",
        "mutation": list(info.mutation),
        "params": info.params,
        "flops": info.flops,
        "curve": [],
    }


def _search_summary(summary: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Scalars for the search run's summary: best trial, accuracies, timings and counts."""
    best = summary_value(summary, "best_trial")
    if best is None:
        best = best_number(rows)
    out: dict[str, Any] = {"candidates": len(rows), "best_trial": best}
    by_num = {r["number"]: r for r in rows}
    acc = summary_value(summary, "best_val_acc")
    out["best_val_acc"] = acc if acc is not None else by_num.get(best, {}).get("val_acc")
    for key in ("test_acc", "root_test_acc", "export_dir", "objective"):
        out[key] = summary_value(summary, key)
    for group in ("timings", "counts", "final_train"):
        for key, value in (summary_value(summary, group) or {}).items():
            if isinstance(value, int | float | str | bool):
                out[f"{group}/{key}"] = value
    if summary_value(summary, "best_path"):
        out["best_path"] = list(summary_value(summary, "best_path"))
    return {k: v for k, v in out.items() if v is not None}
