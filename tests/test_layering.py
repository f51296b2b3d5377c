"""The layering rule: only the CLI modules import Hydra; net2net stays pure torch."""

import subprocess
import sys

import pytest

FORBIDDEN_EVERYWHERE_BELOW_CLI = ("hydra", "omegaconf")


def _imported(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "module", ["nas.net2net", "nas.models", "nas.data", "nas.train", "nas.search", "nas.tracking"]
)
def test_library_layers_do_not_import_hydra(module: str) -> None:
    loaded = _imported(module)
    leaked = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN_EVERYWHERE_BELOW_CLI)
    assert leaked == [], f"{module} pulls in {leaked[:5]}"


def test_net2net_is_pure_torch() -> None:
    loaded = _imported("nas.net2net")
    for heavy in ("optuna", "wandb", "hydra", "torchvision", "nas.search", "nas.train"):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in loaded), heavy
