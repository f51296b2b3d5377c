"""docker/: no Docker engine runs here, so check what can be checked without one.

The compose file parses, its services run commands that exist in the images (console scripts of
the installed extras) with Hydra overrides the real configs accept, every worker and the
dashboard share one storage URL (the PostgreSQL service's, psycopg driver) and one artifact
volume, and the Dockerfiles copy only paths that exist. hadolint runs in `make lint`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from nas.cli_common import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _expand(value: str) -> str:
    """Compose's ${VAR:-default} with the defaults (what runs when nothing is set)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def _scripts() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(meta["project"]["scripts"])


def test_compose_services_are_consistent_with_the_repo():
    spec = _compose()
    services = spec["services"]
    assert {"postgres", "worker", "worker-gpu", "dashboard"} <= set(services)
    pg = services["postgres"]["environment"]
    url = f"postgresql+psycopg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    workers = [services["worker"], services["worker-gpu"]]
    for w in workers:
        cmd = [_expand(c) for c in w["command"]]
        assert cmd[0] == ".venv/bin/nas-search" and "nas-search" in _scripts()
        overrides = cmd[1:]
        assert f"storage={url}" in overrides  # the postgres service, psycopg driver
        assert "artifacts=/shared/artifacts" in overrides
        assert "artifacts:/shared/artifacts" in w["volumes"]
        assert w["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert w["environment"]["OMP_NUM_THREADS"] == "1"
        assert (ROOT / w["build"]["dockerfile"]).is_file()
        with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
            cfg = compose("nas_search", overrides=overrides)  # the real configs accept them
        assert cfg.storage == url and cfg.artifacts == "/shared/artifacts"
    assert workers[0]["deploy"]["replicas"] >= 2  # several workers, one study
    assert workers[1]["build"]["dockerfile"] == "docker/Dockerfile.cuda"
    assert "train.device=cuda" in workers[1]["command"]
    gpu = workers[1]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    dash = services["dashboard"]["command"]
    assert dash[0] == ".venv/bin/optuna-dashboard" and dash[1] == url
    assert "--artifact-dir=/shared/artifacts" in dash
    assert any(
        v.startswith("artifacts:/shared/artifacts") for v in services["dashboard"]["volumes"]
    )
    assert set(spec["volumes"]) >= {"pgdata", "artifacts"}


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfiles_copy_what_exists_and_install_like_make(dockerfile):
    text = (DOCKER / dockerfile).read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"{dockerfile}: COPY {src}: no such path"
    assert "make .venv/.installed-stamp" in text  # the same pinned install as `make` and CI
    assert (DOCKER / f"{dockerfile}.dockerignore").is_file()
    makefile = (ROOT / "Makefile").read_text()
    extras = re.search(r"^EXTRAS \?= (.+)$", makefile, re.M).group(1).split(",")
    assert {"postgres", "dashboard"} <= set(extras)  # the compose services need both
