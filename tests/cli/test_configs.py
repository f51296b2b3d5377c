"""Every option of every config group composes from the real Hydra configs and instantiates.

The overrides only make things tiny; the configs under test are the shipped ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from datafiles import WRITERS
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from nas.cli_common import CONFIG_DIR, instantiate_data, model_spec_from, to_plain, train_options
from nas.models import build_from_spec
from nas.search import SearchConfig
from nas.train import TrainOptions, train

CONF = Path(CONFIG_DIR)


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_cfg(config_name: str, overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(config_name=config_name, overrides=overrides)


def test_groups_have_the_documented_options() -> None:
    assert set(options("data")) >= {
        "mnist1d",
        "digits",
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar100",
    }
    assert set(options("model")) >= {"mlp", "cnn1d", "cnn2d", "resnet1d", "resnet2d"}
    assert {"default"} <= set(options("train"))
    assert {"wandb", "none"} <= set(options("logger"))


@pytest.mark.parametrize("option", options("data"))
def test_every_data_option_instantiates(option: str, tmp_path: Path) -> None:
    overrides = [f"data={option}", "data.batch_size=16"]
    if option in WRITERS:
        WRITERS[option](tmp_path)
        overrides.append(f"data.root={tmp_path}")
        if option.startswith("cifar"):
            overrides.append("data.verify_checksums=false")
    if option == "mnist1d":
        overrides.append("data.n_samples=200")
    data = instantiate_data(compose_cfg("nas_train", overrides))
    x, y = next(iter(data.train))
    assert tuple(x.shape[1:]) == tuple(data.input_shape)
    assert x.dtype == torch.float32 and x.shape[0] == 16
    assert int(y.max()) < data.num_classes
    assert len(data.val.dataset) > 0 and len(data.test.dataset) > 0


def _data_for(model_option: str) -> str:
    return "mnist1d" if model_option in ("cnn1d", "cnn1d_small", "resnet1d", "mlp") else "digits"


@pytest.mark.parametrize("option", options("model"))
def test_every_model_option_instantiates_and_runs(option: str) -> None:
    data_option = _data_for(option)
    overrides = [f"model={option}", f"data={data_option}"]
    if data_option == "mnist1d":
        overrides.append("data.n_samples=200")
    cfg = compose_cfg("nas_train", overrides)
    data = instantiate_data(cfg)
    torch.manual_seed(0)
    model = build_from_spec(
        model_spec_from(cfg), input_shape=data.input_shape, num_classes=data.num_classes
    ).eval()
    x, _ = next(iter(data.val))
    with torch.no_grad():
        logits = model(x[:4])
    assert logits.shape == (4, data.num_classes)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("option", options("train"))
def test_every_train_option_trains(option: str) -> None:
    cfg = compose_cfg(
        "nas_train",
        [
            f"train={option}",
            "data.n_samples=300",
            "model=cnn1d_small",
            "train.progress=false",
            "train.epochs=2",
        ],
    )
    data = instantiate_data(cfg)
    torch.manual_seed(0)
    model = build_from_spec(
        model_spec_from(cfg), input_shape=data.input_shape, num_classes=data.num_classes
    )
    result = train(model, data, seed=0, **train_options(cfg.train).train_kwargs())
    assert result.status == "completed"
    assert len(result.curve) == 2
    assert result.curve[-1].train_loss < result.curve[0].train_loss * 1.5


@pytest.mark.parametrize("option", options("logger"))
def test_every_logger_option_instantiates(option: str, tmp_path: Path) -> None:
    cfg = compose_cfg("nas_search", [f"logger={option}"])
    kwargs = {"dir": str(tmp_path)} if "dir" in cfg.logger else {}
    tracker = instantiate(cfg.logger, _convert_="all", **kwargs)
    assert hasattr(tracker, "on_candidate_end") and hasattr(tracker, "on_search_end")


@pytest.mark.parametrize("option", options("search"))
def test_every_search_option_builds_a_search_config(option: str, tmp_path: Path) -> None:
    from nas.cli_search import build

    cfg = compose_cfg(
        "nas_search",
        [
            f"search={option}",
            "data.n_samples=200",
            "logger=none",
            f"storage=sqlite:///{tmp_path}/s.db",
        ],
    )
    job = build(cfg)
    assert job.config.trials >= 1 and job.config.study
    assert job.env.seed_spec["name"] == cfg.model.name
    # Nothing is written while a config is only being checked.
    assert not (tmp_path / "s.db").exists()


def test_search_defaults_have_one_home() -> None:
    """SearchConfig's defaults mirror conf/search/default.yaml (the YAML is what users read)."""
    cfg = compose_cfg("nas_search", ["seed=0"])
    assert SearchConfig.from_dict(to_plain(cfg.search)) == SearchConfig()


def test_train_defaults_have_one_home() -> None:
    """TrainOptions' defaults mirror conf/train/default.yaml."""
    cfg = compose_cfg("nas_train", [])
    assert train_options(cfg.train) == TrainOptions()
