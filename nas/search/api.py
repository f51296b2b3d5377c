"""The library's way in: check and assemble a search from plain values, then run it.

>>> from nas import data, models, search, train
>>> job = search.prepare_search(
...     search.SearchConfig(trials=8, study="demo"),
...     data=data.mnist1d(n_samples=4000),
...     seed_model=models.model_spec("cnn1d", widths=[8, 8]),
...     train=train.TrainOptions(budget=train.Budget(epochs=10)),
... )
>>> summary = job.run()

``prepare_search`` writes nothing: every check that can refuse a run happens there, so a refused
run leaves no study, no run folder and no artifacts behind. ``nas-search`` is a thin adapter
from the composed Hydra config to these two calls.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nas.data import DataBundle
from nas.models import build_from_spec
from nas.search.callbacks import CallbackList, SearchCallback, SearchSummary
from nas.search.candidate import build_candidate, load_user_checkpoint
from nas.search.config import SearchConfig, SearchConfigError
from nas.search.loop import SearchEnv, Searcher
from nas.search.storage import check_storage_url, default_storage_url
from nas.search.summary import finish, print_summary
from nas.train import TrainOptions

__all__ = ["PreparedSearch", "new_study_name", "prepare_search", "run_search"]


def new_study_name() -> str:
    """A fresh, unique study name for a run that did not name one."""
    return f"search-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def _check_writable(path: Path, what: str) -> None:
    """Refuse a folder that cannot be created or written, before anything is written."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise SearchConfigError(f"{what}: {path} is not writable ({probe} cannot be written)")


@dataclass(frozen=True)
class PreparedSearch:
    """A checked search, ready to run: its config (study named) and environment."""

    config: SearchConfig
    env: SearchEnv

    def run(self) -> SearchSummary:
        """Run (or resume) the study; see :func:`run_search`."""
        return run_search(self.config, self.env)


def prepare_search(
    config: SearchConfig,
    *,
    data: DataBundle,
    seed_model: dict,
    data_spec: dict | None = None,
    train: TrainOptions | None = None,
    storage: str | None = None,
    artifacts: str | Path | None = None,
    outputs: str | Path = "outputs",
    run_dir: str | Path | None = None,
    seed_checkpoint: str | Path | None = None,
    callbacks: Sequence[SearchCallback] = (),
    progress: bool = True,
) -> PreparedSearch:
    """Check everything a search needs and assemble it; writes nothing.

    Args:
        config: The search's settings (validated here); ``config.study`` None: a fresh name.
        data: Train / val / test loaders (``nas.data``).
        seed_model: ``nas.models.model_spec(...)`` of the root architecture.
        data_spec: What defines the data (e.g. the data config); a study resumed later must
            be given the same. None: the data set's name and split sizes.
        train: Per-candidate training options; ``train.lr`` is the root's (teacher's) rate.
        storage: SQLAlchemy URL of the Optuna storage; None: ``<outputs>/nas.db`` (SQLite).
        artifacts: Checkpoint store folder; None: ``<outputs>/artifacts``.
        outputs: Home of the default storage and artifact store, shared by all runs.
        run_dir: This run's folder (export of the best model); None: ``<outputs>/runs/<study>``.
        seed_checkpoint: A state_dict file trained for ``seed_model``: the root is grown as is.
        callbacks: Trackers that see every step (``nas.tracking``).
        progress: Per-candidate lines and the final table on the console.

    Raises:
        SearchConfigError: a bad value; the message is one line naming the field.
    """
    config.validate()
    config = dataclasses.replace(config, study=config.study or new_study_name())
    options = train if train is not None else TrainOptions()
    outputs = Path(outputs).resolve()
    root_sd = None
    if seed_checkpoint is not None:
        root_sd = load_user_checkpoint(seed_checkpoint)
        example = next(iter(data.train))[0][:2]
        build_candidate(
            seed_model, [], input_shape=data.input_shape, num_classes=data.num_classes,
            example_input=example, state_dict=root_sd, what="model.checkpoint",
        )  # fmt: skip
    else:  # the seed model must fit the data (e.g. a 1D model on images) before any storage
        build_from_spec(seed_model, input_shape=data.input_shape, num_classes=data.num_classes)
    artifacts_dir = Path(artifacts) if artifacts is not None else outputs / "artifacts"
    out_dir = Path(run_dir) if run_dir is not None else outputs / "runs" / str(config.study)
    for path, what in ((artifacts_dir, "artifacts"), (out_dir, "run folder")):
        _check_writable(path, what)
    if storage is None:
        _check_writable(outputs, "outputs")
    else:
        check_storage_url(storage)
    env = SearchEnv(
        data=data,
        seed_spec=seed_model,
        data_spec=data_spec if data_spec is not None else {"name": data.name, **data.sizes()},
        storage_url=storage or default_storage_url(outputs),
        artifacts_dir=artifacts_dir,
        out_dir=out_dir,
        train=options,
        root_state_dict=root_sd,
        callbacks=list(callbacks),
        progress=progress,
    )
    return PreparedSearch(config, env)


def run_search(cfg: SearchConfig, env: SearchEnv) -> SearchSummary:
    """Run (or resume) study ``cfg.study`` and return its summary; the callbacks see every step.

    ``cfg`` and ``env`` come from :func:`prepare_search` (which names the study).
    """
    cfg.validate()
    if not cfg.study:
        raise SearchConfigError("search.study: run_search needs a named study (prepare_search)")
    searcher = Searcher(cfg, env, cfg.study)
    searcher.run()
    summary = finish(searcher)
    if env.progress:
        print_summary(summary, searcher.progress.console)
        searcher.progress.log_printed()
    CallbackList(env.callbacks).on_search_end(summary)
    return summary
