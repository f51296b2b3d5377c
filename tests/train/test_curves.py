"""time_to_target / epochs_to_target: the first point of a curve at or above a target."""

from __future__ import annotations

import pytest

from nas.train import EpochRecord, epochs_to_target, time_to_target


def test_first_point_reaching_the_target() -> None:
    xs, accs = [0, 1.5, 3.0, 4.5], [0.5, 0.8, 0.79, 0.9]
    assert time_to_target(xs, accs, 0.8) == 1.5  # >=, and the first time, not the last
    assert time_to_target(xs, accs, 0.85) == 4.5
    assert time_to_target(xs, accs, 0.5) == 0.0  # the untrained point counts
    assert time_to_target(xs, accs, 0.95) is None


def test_bad_curves_are_refused() -> None:
    with pytest.raises(ValueError, match="x values for"):
        time_to_target([0, 1], [0.5], 0.5)
    with pytest.raises(ValueError, match="non-decreasing"):
        time_to_target([0, 2, 1], [0.1, 0.2, 0.3], 0.3)


def test_epochs_to_target_reads_a_train_curve() -> None:
    curve = [EpochRecord(e, 10 * e, 1.0, 1.0, a, 0.01, float(e)) for e, a in
             [(1, 0.6), (2, 0.7), (3, 0.72)]]  # fmt: skip
    assert epochs_to_target(curve, 0.7) == 2
    assert epochs_to_target(curve, 0.8) is None
