"""`nas-search`: grow the seed model with Net2Net mutations chosen by an Optuna study.

nas-search                                   # mnist1d, cnn1d_small, default budgets
nas-search search.study=mine search.trials=20  # name a study; re-running it resumes/continues
nas-search storage=postgresql+psycopg://u@host/db logger=none search.warm_start=false

The only place the search meets Hydra: the DictConfig becomes plain values (SearchConfig,
SearchEnv) here, and every user error is one `error: ...` line with exit status 2.
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
    early_setup,
    fail,
    guarded,
    instantiate_data,
    model_kwargs,
    set_threads,
    to_plain,
    train_kwargs,
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


def _base_lr(cfg: DictConfig) -> float:
    opt = cfg.train.get("optimizer") or {}
    return float(opt.get("lr", 1e-3))


def build(cfg: DictConfig) -> tuple[Any, Any, str]:
    """Validate the config and turn it into (SearchConfig, SearchEnv, study name).

    Nothing is written before this returns: a bad config never leaves a half-created study.
    """
    from nas.models import build_from_spec, model_spec
    from nas.search import SearchConfig, SearchConfigError, SearchEnv, new_study_name
    from nas.search.candidate import CheckpointError, build_candidate, load_user_checkpoint
    from nas.search.storage import default_storage_url

    try:
        search = dict(to_plain(cfg.search))
        search.setdefault("seed", int(cfg.get("seed", 0)))
        scfg = SearchConfig.from_dict(search)
        kwargs = train_kwargs(cfg.train)  # budgets <= 0 fail here, before any storage
        data = instantiate_data(cfg)
        name, model_kw = model_kwargs(cfg)
        spec = model_spec(name, **model_kw)
        root_sd = None
        if cfg.model.get("checkpoint"):
            root_sd = load_user_checkpoint(cfg.model.checkpoint)
            example = next(iter(data.train))[0][:2]
            build_candidate(
                spec, [], input_shape=data.input_shape, num_classes=data.num_classes,
                example_input=example, state_dict=root_sd, what="model.checkpoint",
            )  # fmt: skip
        else:  # the seed model must fit the data (e.g. a 1D model on images) before any storage
            build_from_spec(spec, input_shape=data.input_shape, num_classes=data.num_classes)
    except (SearchConfigError, CheckpointError) as exc:
        fail(str(exc))
    out = _out_root()
    run_dir = _run_dir()
    env = SearchEnv(
        data=data,
        seed_spec=spec,
        storage_url=str(cfg.get("storage") or default_storage_url(out)),
        artifacts_dir=Path(scfg.artifacts) if scfg.artifacts else out / "artifacts",
        out_dir=run_dir,
        base_lr=_base_lr(cfg),
        train_kwargs=kwargs,
        root_state_dict=root_sd,
        callbacks=_callbacks(cfg, run_dir),
        progress=True,  # the search-level lines; train.progress drives the per-epoch bar
        run_config=to_plain(cfg),  # the loggers record the whole resolved configuration
    )
    return scfg, env, scfg.study or new_study_name()


@guarded
def run(cfg: DictConfig) -> Any:
    """Build, search, close the loggers; returns the SearchSummary."""
    import torch

    from nas.search import SearchConfigError, run_search

    set_threads(cfg)
    scfg, env, study = build(cfg)
    torch.manual_seed(scfg.seed)
    try:
        return run_search(scfg, env, study)
    except SearchConfigError as exc:
        fail(str(exc))
    finally:
        for cb in env.callbacks:
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
    _hydra_main()


if __name__ == "__main__":
    main()
