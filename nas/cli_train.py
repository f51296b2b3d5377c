"""`nas-train`: train one model on one data set, print its val and test accuracy.

nas-train data=digits model=cnn2d train.epochs=5
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from nas.cli_common import (
    CONFIG_DIR,
    check_group_choices,
    check_override_keys,
    early_setup,
    guarded,
    instantiate_data,
    model_spec_from,
    set_threads,
    train_options,
)


def _save(run_dir: Path, model: Any, spec: dict, metrics: dict) -> None:
    """Write weights and a JSON description; each file appears whole or not at all."""
    from nas.search.candidate import atomic_write_bytes, state_dict_bytes  # imports optuna

    atomic_write_bytes(run_dir / "model.pt", state_dict_bytes(model))
    description = json.dumps({"model": spec, **metrics}, indent=2)
    atomic_write_bytes(run_dir / "model.json", description.encode())


@guarded
def run(cfg: DictConfig) -> dict:
    """Train the configured model; returns the reported metrics."""
    import torch

    from nas.models import build_from_spec
    from nas.train import evaluate, train

    set_threads(cfg)
    options = train_options(cfg.train)
    data = instantiate_data(cfg)
    spec = model_spec_from(cfg)
    torch.manual_seed(int(cfg.seed))
    model = build_from_spec(spec, input_shape=data.input_shape, num_classes=data.num_classes)
    result = train(model, data, seed=int(cfg.seed), **options.train_kwargs())
    device = next(model.parameters()).device
    val_loss, val_acc = evaluate(model, data.val, device=str(device))
    test_loss, test_acc = evaluate(model, data.test, device=str(device))
    params = sum(p.numel() for p in model.parameters())
    metrics = {
        "status": result.status,
        "message": result.message,
        "epochs": len(result.curve),
        "params": params,
        "val_acc": val_acc,
        "test_acc": test_acc,
        "val_loss": val_loss,
        "test_loss": test_loss,
        "seconds": result.seconds,
    }
    table = Table(title=f"nas-train: {spec['name']} on {data.name}")
    for column in ("status", "epochs", "params", "val acc", "test acc", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(
        result.status,
        str(len(result.curve)),
        f"{params:,}",
        f"{val_acc:.4f}",
        f"{test_acc:.4f}",
        f"{result.seconds:.1f}",
    )
    Console().print(table)
    if result.status == "diverged":
        Console(stderr=True).print(f"[yellow]warning:[/] {result.message}")
    if cfg.get("save", True) and HydraConfig.initialized():
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        _save(run_dir, model, spec, metrics)
        print(f"saved: {run_dir / 'model.pt'}")
    print(f"val_acc={val_acc:.4f} test_acc={test_acc:.4f}")
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="nas_train")
def _hydra_main(cfg: DictConfig) -> None:
    run(cfg)


def main() -> None:
    """Console entry point: check config-group choices, then hand over to Hydra."""
    early_setup()  # before torch is imported
    check_group_choices(sys.argv[1:])
    check_override_keys(sys.argv[1:], "nas_train")
    _hydra_main()


if __name__ == "__main__":
    main()
