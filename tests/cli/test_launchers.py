"""The launcher configs in conf/hydra/launcher compose with the real configs, name installed
launcher classes, and give every worker one torch / OpenMP thread."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class

from nas.cli_common import CONFIG_DIR


def hydra_cfg(launcher: str):
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        cfg = compose(
            "nas_search", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True
        )
    return cfg.hydra


def test_local_workers_use_joblib_processes_with_one_thread():
    h = hydra_cfg("workers_local")
    assert get_class(h.launcher._target_).__name__ == "JoblibLauncher"
    assert h.launcher.prefer == "processes"
    assert h.job.env_set.OMP_NUM_THREADS == "1" and h.job.env_set.MKL_NUM_THREADS == "1"


@pytest.mark.parametrize("launcher,gpus", [("slurm_cpu", None), ("slurm_gpu", 1)])
def test_slurm_configs(launcher, gpus):
    h = hydra_cfg(launcher)
    assert get_class(h.launcher._target_).__name__ == "SlurmLauncher"
    assert h.launcher.gpus_per_node == gpus
    setup = " ".join(h.launcher.setup)
    assert "OMP_NUM_THREADS=1" in setup and "WANDB_MODE=offline" in setup
    assert h.launcher.cpus_per_task >= 1 and h.launcher.timeout_min > 0
