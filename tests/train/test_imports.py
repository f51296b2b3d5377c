"""Importing the model and train layers stays light: no Hydra, no torchvision until asked."""

from __future__ import annotations

import subprocess
import sys


def test_models_and_train_import_without_hydra() -> None:
    code = "import sys, nas.models, nas.train; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    roots = {m.split(".")[0] for m in out.stdout.split()}
    assert not roots & {"hydra", "omegaconf", "torchvision"}, roots & {"hydra", "omegaconf"}
