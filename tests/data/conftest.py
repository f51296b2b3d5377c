"""Fixtures writing tiny torchvision data sets (the writers live in tests/datafiles.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from datafiles import N_TEST, N_TRAIN, WRITERS

__all__ = ["N_TEST", "N_TRAIN", "WRITERS"]


@pytest.fixture
def write_files(tmp_path: Path) -> Callable[[str], tuple[Path, dict[str, np.ndarray]]]:
    """Write data set ``name`` under a fresh root; returns (root, arrays written)."""

    def write(name: str) -> tuple[Path, dict[str, np.ndarray]]:
        root = tmp_path / "root"
        return root, WRITERS[name](root)

    return write
