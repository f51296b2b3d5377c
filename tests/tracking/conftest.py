"""Fixtures for the tracking tests (helpers live in tracking_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tracking_helpers import isolate_wandb


@pytest.fixture
def wandb_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep wandb's caches, staging and settings inside the test's temporary folder."""
    home = tmp_path_factory.mktemp("wandb_home")
    isolate_wandb(monkeypatch, home)
    return home
