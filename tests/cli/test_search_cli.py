"""`nas-search` as a user runs it: a subprocess, one-line errors, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
TINY = [
    "logger=none",
    "data.n_samples=1200",
    "train.progress=false",
    "search.seed_epochs=3",
    "search.startup_trials=2",
]


def _env() -> dict[str, str]:
    env = dict(os.environ, WANDB_MODE="offline", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def nas_search(cwd: Path, *overrides: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nas.cli_search", *overrides],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _studies(url: str) -> list[str]:
    return sorted(optuna.get_all_study_names(storage=url))


@pytest.mark.parametrize(
    "override,message",
    [
        ("search.mutations=[widen,shrink]", "unknown mutation 'shrink'"),
        ("train.epochs=0", "train.epochs"),
        ("search.trials=0", "search.trials"),
        ("storage=nosuchdb://x/y", "storage: cannot open"),
        ("storage=sqlite:////nonexistent-dir/sub/nas.db", "storage: cannot open"),
        ("model=cnn2d", "model cnn2d: input_shape must be [channels, height, width]"),
        ("train.optimizer.lr=-1", "train.optimizer.lr: -1 must be a number > 0"),
        ("+train.optimizer.betas=[2.0,0.5]", "train.optimizer: AdamW"),
        ("serach.trials=3", "did you mean 'search.trials'"),
        ("artifacts=/dev/null/sub", "artifacts: /dev/null/sub is not writable"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, override, message):
    url = f"sqlite:///{tmp_path}/nas.db"
    optuna.create_study(study_name="keep", storage=url)  # an existing study must stay alone
    args = [f"storage={url}", *TINY, "search.study=new", override]
    res = nas_search(tmp_path, *args)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert _studies(url) == ["keep"]  # no half-created study
    assert not list((tmp_path / "outputs").glob("search/*"))  # no run folder left behind
    assert not (tmp_path / "nonexistent-dir").exists()


def test_existing_study_with_other_objective_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path}/nas.db"
    study = optuna.create_study(study_name="obj", storage=url, direction="maximize")
    study.set_user_attr("objective", "accuracy")
    res = nas_search(
        tmp_path, f"storage={url}", *TINY, "search.study=obj", "search.objective=accuracy_vs_size"
    )
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith("error: study 'obj' was created with objective accuracy")
    assert len(optuna.load_study(study_name="obj", storage=url).trials) == 0


def _snapshot(url: str, name: str) -> list:
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def test_resume_after_sigkill(tmp_path):
    """Kill mid-training, re-run: finished candidates kept (not retrained), none left RUNNING.

    Candidates train 30 epochs so that a poll of the storage sees one RUNNING mid-training.
    """
    url = f"sqlite:///{tmp_path}/nas.db"
    # no pruner: a pruned candidate ends right after its epoch report, racing the kill
    args = [f"storage={url}", *TINY, "search.study=k", "search.trials=6", "train.epochs=30",
            "search.pruner=none"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "nas.cli_search", *args, f"hydra.run.dir={tmp_path}/run1"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline, killed_running = time.monotonic() + 120, None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            try:
                trials = _snapshot(url, "k")
            except Exception:  # the study does not exist yet
                continue
            done = [t for t in trials if t.state in FINISHED]
            running = [t for t in trials if t.state == TrialState.RUNNING]
            if len(done) >= 2 and running and running[0].intermediate_values:
                os.kill(proc.pid, signal.SIGKILL)  # mid-training: after an epoch, before tell
                killed_running = running[0].number
                break
    finally:
        if proc.poll() is None and killed_running is None:
            proc.kill()
        proc.wait()
    assert killed_running is not None, "the search finished before it could be killed"
    before = {t.number: t for t in _snapshot(url, "k") if t.state in FINISHED}

    res = nas_search(tmp_path, *args, f"hydra.run.dir={tmp_path}/run2")
    assert res.returncode == 0, res.stderr[-2000:]
    after = {t.number: t for t in _snapshot(url, "k")}
    assert not [t for t in after.values() if t.state == TrialState.RUNNING]
    stale = after[killed_running]
    assert stale.state == TrialState.FAIL and stale.user_attrs["fail_reason"].startswith("stale")
    for number, t in before.items():  # kept, not retrained
        a = after[number]
        assert (a.state, a.values, a.datetime_start, a.datetime_complete) == (
            t.state,
            t.values,
            t.datetime_start,
            t.datetime_complete,
        )
    finished = [t for t in after.values() if t.state in FINISHED]
    assert len(finished) == 6
    trainings = int(re.search(r"(\d+) training runs", res.stdout).group(1))
    assert trainings == 6 - len(before)
    # lineage stays consistent across the two processes
    for t in finished:
        parent = t.user_attrs.get("parent")
        if parent is not None:
            assert after[parent].state == TrialState.COMPLETE
            assert after[parent].datetime_complete <= t.datetime_start
    assert (tmp_path / "run2" / "best" / "model_card.json").is_file()


def test_multirun_over_seeds_and_data_sets(tmp_path):
    """`-m seed=0,1 data=mnist1d,digits`: four searches, each its own study and export."""
    url = f"sqlite:///{tmp_path}/nas.db"
    r = nas_search(
        tmp_path,
        "-m",
        "seed=0,1",
        "data=mnist1d,digits",
        "model=mlp",  # one seed model for 1D signals and 8x8 images
        "logger=none",
        "train.progress=false",
        "train.epochs=1",
        "search.seed_epochs=1",
        "search.trials=2",
        f"storage={url}",
        f"hydra.sweep.dir={tmp_path}/multi",
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    jobs = sorted(p for p in (tmp_path / "multi").iterdir() if p.is_dir())
    assert len(jobs) == 4
    seen = set()
    for job in jobs:
        overrides = (job / ".hydra" / "overrides.yaml").read_text()
        seed = int(re.search(r"seed=(\d)", overrides).group(1))
        card = json.loads((job / "best" / "model_card.json").read_text())
        assert f"data={card['data']}" in overrides
        seen.add((seed, card["data"]))
        study = optuna.load_study(study_name=card["study"], storage=url)
        assert len([t for t in study.trials if t.state in FINISHED]) == 2
    assert seen == {(s, d) for s in (0, 1) for d in ("mnist1d", "digits")}
    assert len(_studies(url)) == 4


def _state_dict_file(path: Path, widths: list[int]) -> Path:
    import torch

    from nas.models import create_model

    model = create_model("cnn1d", input_shape=(1, 40), num_classes=10, widths=widths)
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.parametrize("kind", ["wrong_shapes", "not_a_state_dict"])
def test_bad_checkpoint_is_one_line_and_writes_nothing(tmp_path, kind):
    import torch

    from nas.models import create_model

    if kind == "wrong_shapes":  # a cnn1d [16, 16] checkpoint for the [8, 8] seed model
        ckpt = _state_dict_file(tmp_path / "seed.pt", [16, 16])
        expected = "model.checkpoint"
    else:  # a pickled object: not loadable with weights_only=True
        ckpt = tmp_path / "seed.pt"
        torch.save(create_model("cnn1d", input_shape=(1, 40), num_classes=10), ckpt)
        expected = "not a weights-only state dict"
    url = f"sqlite:///{tmp_path}/nas.db"
    res = nas_search(tmp_path, f"storage={url}", *TINY, f"model.checkpoint={ckpt}")
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert "weights_only=False" not in lines[0]
    assert not (tmp_path / "nas.db").exists() or _studies(url) == []
    assert not list((tmp_path / "outputs").glob("search/*"))


def test_named_study_in_a_multirun_is_not_resumed_with_another_seed(tmp_path):
    """`-m seed=0,1 search.study=NAME`: job 1 runs; job 2 would grow job 1's lineage under
    another seed and report its result as its own, so it is refused with one line."""
    url = f"sqlite:///{tmp_path}/nas.db"
    r = nas_search(
        tmp_path,
        "-m",
        "seed=0,1",
        "search.study=shared",
        *TINY,
        "train.epochs=1",
        "search.trials=2",
        f"storage={url}",
        f"hydra.sweep.dir={tmp_path}/multi",
        timeout=300,
    )
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert r.returncode == 2
    assert len(errors) == 1 and "study 'shared' was created with data.seed=0, not 1" in errors[0]
    assert _studies(url) == ["shared"]
    study = optuna.load_study(study_name="shared", storage=url)
    assert len([t for t in study.trials if t.state in FINISHED]) == 2  # job 1's, untouched


def test_search_grows_a_vit_seed_end_to_end(tmp_path):
    """`model=vit data=digits`: the search widens the attention stream (whole head copies) and
    deepens blocks, every warm child starting at exactly its parent's val accuracy."""
    url = f"sqlite:///{tmp_path}/nas.db"
    r = nas_search(
        tmp_path,
        "model=vit",
        "data=digits",
        "logger=none",
        "train.progress=false",
        "train.epochs=1",
        "search.seed_epochs=2",
        "search.trials=5",
        "search.startup_trials=5",
        "search.mutations=[widen,deepen]",
        f"storage={url}",
        f"hydra.run.dir={tmp_path}/run",
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    card = json.loads((tmp_path / "run" / "best" / "model_card.json").read_text())
    study = optuna.load_study(study_name=card["study"], storage=url)
    children = [t for t in study.trials if t.user_attrs.get("parent") is not None]
    done = [t for t in children if t.state in FINISHED]
    assert len(done) == 4, [(t.number, t.state, t.user_attrs.get("error")) for t in children]
    assert all(t.user_attrs["preserved"] for t in done)  # val acc at step 0 == the parent's
    ops = {m["op"] for t in done for m in t.user_attrs["mutation"]}
    targets = {m["target"] for t in done for m in t.user_attrs["mutation"] if m["op"] == "widen"}
    assert ops == {"widen", "deepen"}, ops
    assert targets, "no widening was proposed"
