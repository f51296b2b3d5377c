"""The search on CUDA (the default ``train.device=auto`` picks it when there is one): children
grown from checkpoints trained on the GPU start at exactly their parent's accuracy, and a rerun
continues the study. Skipped without CUDA (CI has none)."""

from __future__ import annotations

import optuna
import pytest
import torch
from optuna.trial import TrialState
from test_search import FINISHED, check_lineage, check_preserved

from nas.train import Budget, TrainOptions

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("amp", [True, False])
def test_search_on_cuda_warm_starts_exactly_and_resumes(tiny_search, tmp_path, amp):
    train = TrainOptions(budget=Budget(epochs=1), device="cuda", amp=amp, progress=False)
    first = tiny_search(train=train, trials=4, study="gpu")
    assert first.run().timings["trainings"] == 4
    second = tiny_search(train=train, trials=6, study="gpu").run()
    assert second.timings["trainings"] == 2
    study = optuna.load_study(study_name="gpu", storage=f"sqlite:///{tmp_path}/nas.db")
    assert len(study.get_trials(states=FINISHED)) == 6
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.FAIL))
    check_lineage(study)
    assert check_preserved(study) >= 2


def test_scratch_search_on_cuda(tiny_search, tmp_path):
    train = TrainOptions(budget=Budget(epochs=1), device="cuda", progress=False)
    summary = tiny_search(train=train, trials=4, study="gpu0", warm_start=False).run()
    assert summary.timings["trainings"] == 4
    study = optuna.load_study(study_name="gpu0", storage=f"sqlite:///{tmp_path}/nas.db")
    assert len(study.get_trials(states=FINISHED)) == 4
    assert not study.get_trials(states=(TrialState.FAIL,))
    check_lineage(study)
