"""Reading a validation curve: when did it first reach a target accuracy?"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from nas.train.results import EpochRecord


def time_to_target(xs: Sequence[float], accs: Sequence[float], target: float) -> float | None:
    """The first ``xs[i]`` whose ``accs[i] >= target``, or None if the curve never gets there.

    ``xs`` is whatever the curve is measured against (epochs, seconds, cumulative seconds);
    it must be non-decreasing and as long as ``accs``. A point at x = 0 (the model before any
    training, e.g. a Net2Net student) counts: a curve that starts at the target reaches it at 0.

    Raises:
        ValueError: the sequences differ in length or ``xs`` decreases somewhere.
    """
    if len(xs) != len(accs):
        raise ValueError(f"time_to_target: {len(xs)} x values for {len(accs)} accuracies")
    if any(b < a for a, b in itertools.pairwise(xs)):
        raise ValueError("time_to_target: x values must be non-decreasing")
    return next((float(x) for x, a in zip(xs, accs, strict=True) if a >= target), None)


def epochs_to_target(curve: Sequence[EpochRecord], target: float) -> int | None:
    """The first epoch of a :func:`~nas.train.train` curve whose ``val_acc >= target``."""
    hit = time_to_target([r.epoch for r in curve], [r.val_acc for r in curve], target)
    return None if hit is None else int(hit)
