"""`nas-train` end to end: the installed console script, run from outside the repo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nas.models import build_from_spec


def nas_train(*overrides: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("nas-train")), *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_trains_digits_cnn2d_and_saves_a_rebuildable_model(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = nas_train(
        "data=digits",
        "model=cnn2d",
        "train.epochs=5",
        "train.progress=false",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "val_acc=" in proc.stdout and "test_acc=" in proc.stdout
    saved = json.loads((run_dir / "model.json").read_text())
    assert saved["epochs"] == 5 and saved["status"] == "completed"
    assert saved["test_acc"] > 0.8  # 8x8 digits are easy; chance is 0.1
    # The saved spec + weights rebuild the model without pickle.
    model = build_from_spec(saved["model"], input_shape=(1, 8, 8), num_classes=10)
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    assert sum(p.numel() for p in model.parameters()) == saved["params"]


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        (["data=imagenet"], ["data", "imagenet", "mnist1d"]),
        (["model=transformer9000"], ["model", "transformer9000", "cnn1d"]),
        (["model.name=nope"], ["nope", "cnn1d"]),
        (["train.epochs=0"], ["train.epochs", "positive"]),
        (["train.epochs=-3"], ["train.epochs"]),
        (["model.widths=[8,0]"], ["widths"]),
        (["data=mnist", "data.root=/nonexistent/mnist"], ["mnist", "/nonexistent/mnist"]),
        (["data.batch_size=0"], ["batch_size"]),
        (["train.scheduler_interval=batch"], ["train.scheduler_interval", "batch", "step"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, overrides: list[str], names: list[str]
) -> None:
    run_dir = tmp_path / "run"
    proc = nas_train(*overrides, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for name in names:
        assert name in lines[0]
    assert "Traceback" not in proc.stderr
    assert not run_dir.exists()
