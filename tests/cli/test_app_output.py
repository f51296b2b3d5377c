"""What the apps tell a user: --help that describes them, the thread choice at start, and the
run folder's log holding the search's lines (Hydra's `<app>.log` used to stay empty)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _app(app: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "HYDRA_"))}
    base |= {"PYTHONPATH": str(ROOT), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"} | env
    return subprocess.run(
        [sys.executable, "-m", f"nas.cli_{app}", *args],
        cwd=cwd, env=base, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    "app,fields",
    [
        ("search", ["search.study=NAME", "search.trials=20", "model.checkpoint=PATH", "threads="]),
        ("train", ["train.epochs=20", "train.device=auto", "threads=auto"]),
    ],
)
def test_help_describes_the_app_its_groups_and_fields(tmp_path: Path, app, fields) -> None:
    proc = _app(app, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith(f"nas-{app}: ")
    assert "powered by Hydra" not in text
    assert "search: default, scratch" in text and "model: cnn1d, cnn1d_small" in text
    assert "logger: console, none, wandb" in text
    assert all(f in text for f in fields)
    assert not (tmp_path / "outputs").exists()


def test_search_lines_go_to_the_run_folder_log(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = _app(
        "search", "logger=none", "data.n_samples=600", "train.epochs=1", "train.progress=false",
        "search.seed_epochs=2", "search.trials=2", "search.study=logged",
        f"storage=sqlite:///{tmp_path}/nas.db", f"hydra.run.dir={run_dir}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    log = (run_dir / "cli_search.log").read_text()
    assert "[INFO] - threads: 1 intra-op, 1 inter-op (auto: OMP_NUM_THREADS=1)" in log
    assert "search: new study logged" in log
    assert "[1/2] #0 complete root | val " in log and "[2/2] #1 " in log
    assert "best: trial #" in log
    # the console shows each line once, without the log's [time][logger][level] prefix
    assert proc.stdout.count("[1/2] #0 complete root") == 1
    assert "[INFO]" not in proc.stdout
    assert proc.stdout.splitlines()[0].startswith("threads: 1 intra-op")


def test_threads_follow_the_workers_hint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = _app(
        "train", "train.epochs=1", "train.progress=false", "data.n_samples=300", "workers=64",
        f"hydra.run.dir={run_dir}", cwd=tmp_path, OMP_NUM_THREADS="",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cores = len(os.sched_getaffinity(0))
    expected = (
        f"threads: 1 intra-op, 1 inter-op (auto: {cores} core{'s' * (cores != 1)} / 64 workers); "
        "OpenMP wait policy PASSIVE"
    )
    assert proc.stdout.splitlines()[0] == expected
    assert expected in (run_dir / "cli_train.log").read_text()


@pytest.mark.parametrize("app", ["search", "train"])
@pytest.mark.parametrize(
    "override,message",
    [
        ("threads=0", "threads must be a positive integer or auto, got 0"),
        ("workers=-1", "workers must be a positive integer or null, got -1"),
    ],
)
def test_bad_thread_settings_are_one_line(tmp_path: Path, app, override, message) -> None:
    proc = _app(app, override, "logger=none" if app == "search" else "save=true", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {message}"
    assert not list(tmp_path.rglob(".hydra"))
