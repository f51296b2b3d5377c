"""Fixtures for the tracking tests (helpers live in tracking_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def wandb_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep wandb's caches, staging and settings inside the test's temporary folder."""
    home = tmp_path_factory.mktemp("wandb_home")
    for var in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return home
