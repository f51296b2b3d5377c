"""The budget a run gets and what it hands back: plain dataclasses, JSON-friendly via asdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("completed", "diverged", "stopped")


def _check(name: str, value: Any, kind: type) -> None:
    if value is None:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(value) or value <= 0:
        what = "integer" if kind is int else "number"
        raise ValueError(f"train: budget {name} must be a positive {what} or None, got {value!r}")


@dataclass(frozen=True)
class Budget:
    """How long to train: whichever of the set limits is reached first ends the run.

    Attributes:
        epochs: Full passes over the train loader (a partial last epoch is never started twice).
        steps: Optimizer steps in total.
        seconds: Wall-clock seconds, checked after every step (evaluation included).

    Raises:
        ValueError: a limit <= 0, or none set.
    """

    epochs: int | None = None
    steps: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        _check("epochs", self.epochs, int)
        _check("steps", self.steps, int)
        _check("seconds", self.seconds, float)
        for name in ("epochs", "steps"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))
        if self.epochs is None and self.steps is None and self.seconds is None:
            raise ValueError("train: budget needs at least one of epochs, steps or seconds")


@dataclass
class EpochRecord:
    """One point of the validation curve, taken at the end of an epoch (or of the budget).

    Attributes:
        epoch: 1-based epoch number.
        step: Optimizer steps done so far (all epochs).
        train_loss: Mean training loss over this epoch's examples.
        val_loss: Mean loss on ``data.val``.
        val_acc: Accuracy on ``data.val`` in [0, 1].
        lr: Learning rate of the first parameter group at the start of this epoch.
        seconds: Wall-clock seconds since the run started.
    """

    epoch: int
    step: int
    train_loss: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float


@dataclass
class TrainResult:
    """Outcome of :func:`nas.train.train`.

    Attributes:
        status: ``"completed"`` (budget used up), ``"diverged"`` (NaN/inf training loss; the
            model's weights are then unusable) or ``"stopped"`` (``on_epoch`` returned True
            before the budget was used up).
        curve: One record per evaluated epoch.
        best_val_acc: Highest ``val_acc`` in the curve (0.0 when the curve is empty).
        final_val_acc: ``val_acc`` of the last record (0.0 when the curve is empty).
        steps: Optimizer steps done.
        seconds: Wall-clock seconds of the whole call.
        compute_seconds: Seconds in forward/backward/optimizer steps and evaluation passes
            (excludes data loading, progress display and callbacks).
        message: One line explaining the status.
        optimizer_state: The optimizer's ``state_dict()`` at the end (e.g. Adam moments), for
            growing it with Net2Net and passing it to the next run as ``optimizer_state``.
    """

    status: str
    curve: list[EpochRecord] = field(default_factory=list)
    best_val_acc: float = 0.0
    final_val_acc: float = 0.0
    steps: int = 0
    seconds: float = 0.0
    compute_seconds: float = 0.0
    message: str = ""
    optimizer_state: dict | None = field(default=None, repr=False)
