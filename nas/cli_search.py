"""`nas-search`: grow the seed model with Net2Net mutations chosen by an Optuna study.

nas-search                                   # mnist1d, cnn1d_small, default budgets
nas-search search.study=mine search.trials=20  # name a study; re-running it resumes/continues
nas-search storage=postgresql+psycopg://u@host/db logger=none search.warm_start=false

A thin adapter: the composed DictConfig becomes plain values handed to the library's
``nas.search.prepare_search`` (which checks everything before anything is written); every user
error is one `error: ...` line with exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd, instantiate
from omegaconf import DictConfig

from nas.cli_common import (
    CONFIG_DIR,
    check_group_choices,
    check_override_keys,
    data_spec_from,
    early_setup,
    fail,
    guarded,
    instantiate_data,
    model_spec_from,
    set_threads,
    to_plain,
    train_options,
)


def _out_root() -> Path:
    """<original cwd>/outputs: the shared home of nas.db and the artifact store."""
    try:
        base = Path(get_original_cwd())
    except ValueError:  # no Hydra app running (tests composing the config directly)
        base = Path.cwd()
    return base / "outputs"


def _run_dir() -> Path:
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path.cwd()


def _callbacks(cfg: DictConfig, run_dir: Path) -> list[Any]:
    node = cfg.get("logger")
    if node is None or node.get("_target_") is None:
        return []
    tracker = instantiate(node, _convert_="all", run_dir=str(run_dir))
    return list(tracker) if isinstance(tracker, list | tuple) else [tracker]


def build(cfg: DictConfig) -> Any:
    """The composed config -> a checked ``nas.search.PreparedSearch``; nothing is written."""
    from nas.search import SearchConfig, SearchConfigError, prepare_search
    from nas.search.candidate import CheckpointError

    run_dir = _run_dir()
    try:
        config = SearchConfig.from_dict(to_plain(cfg.search))
        train = train_options(cfg.train)  # bad budgets / optimizer arguments fail here
        data = instantiate_data(cfg)
        job = prepare_search(
            config,
            data=data,
            seed_model=model_spec_from(cfg),
            data_spec=data_spec_from(cfg),
            train=train,
            storage=cfg.get("storage"),
            artifacts=cfg.get("artifacts"),
            outputs=_out_root(),
            run_dir=run_dir,
            seed_checkpoint=cfg.model.get("checkpoint"),
            progress=True,  # the search-level lines; train.progress drives the per-epoch bar
        )
    except (SearchConfigError, CheckpointError) as exc:
        fail(str(exc))
    job.env.callbacks.extend(_callbacks(cfg, run_dir))
    job.env.run_config = to_plain(cfg)  # the loggers record the whole resolved configuration
    return job


@guarded
def run(cfg: DictConfig) -> Any:
    """Build, search, close the loggers; returns the SearchSummary."""
    from nas.search import SearchConfigError

    set_threads(cfg)
    job = build(cfg)
    try:
        return job.run()
    except SearchConfigError as exc:
        fail(str(exc))
    finally:
        for cb in job.env.callbacks:
            close = getattr(cb, "close", None)
            if callable(close):
                close()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="nas_search")
def _hydra_main(cfg: DictConfig) -> None:
    run(cfg)


def main() -> None:
    """Console entry point: check config-group choices, then hand over to Hydra."""
    early_setup()  # before torch is imported
    check_group_choices(sys.argv[1:])
    check_override_keys(sys.argv[1:], "nas_search")
    _hydra_main()


if __name__ == "__main__":
    main()
