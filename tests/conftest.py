"""Test-wide settings: one intra-op thread (the CI machine has 2 cores) and offline wandb."""

import os

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the apps' threads=auto follows it

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL cluster (tests/pgserver.py) for the session; fails under CI=true
    when the server binaries are missing (.ci/run installs them), skips elsewhere."""
    from pgserver import find_bin, postgres_server

    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        msg = "PostgreSQL server not installed (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    with postgres_server() as server:
        yield server
