"""How a model is trained, as one value: optimizer class + learning rate + budget + schedule.

The learning rate is a field of its own (not baked into an optimizer partial) because the search
scales it per candidate (a student trains at ``lr_ratio`` x the teacher's rate). Defaults mirror
``conf/train/default.yaml``; a test checks that the two agree.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from nas.train.loop import SCHEDULER_INTERVALS, SchedulerFactory
from nas.train.results import Budget

__all__ = ["TrainOptions", "cosine_schedule"]


def cosine_schedule(optimizer: Optimizer, length: int) -> Any:
    """Cosine annealing from the optimizer's rate to 0 over ``length`` scheduler steps."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=length)


@dataclass(frozen=True)
class TrainOptions:
    """Everything ``nas.train.train`` needs besides the model, the data and the seed.

    Attributes:
        budget: Epoch / step / seconds limits of one run.
        optimizer: Optimizer class (or any ``(params, lr=..., **kw) -> Optimizer``).
        lr: Learning rate (> 0).
        optimizer_kwargs: Further optimizer arguments (weight decay, momentum, ...).
        scheduler: ``(optimizer, length) -> scheduler``, or None; ``length`` is each run's
            length in scheduler steps, from its budget, so a longer root or final run gets a
            full schedule.
        scheduler_interval: ``"step"`` (after every optimizer step: a one-epoch fine-tune
            anneals too) or ``"epoch"``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
        amp: Mixed precision on CUDA.
        channels_last: Channels-last memory format for 4D inputs on CUDA.
        progress: A transient per-epoch progress bar on a terminal.
    """

    budget: Budget = field(default_factory=lambda: Budget(epochs=20))
    optimizer: Callable[..., Optimizer] = torch.optim.AdamW
    lr: float = 0.01
    optimizer_kwargs: Mapping[str, Any] = field(default_factory=lambda: {"weight_decay": 0.01})
    scheduler: SchedulerFactory | None = cosine_schedule
    scheduler_interval: str = "step"
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.budget, Budget):
            raise ValueError(f"train: budget must be a nas.train.Budget, got {self.budget!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float) or not self.lr > 0:
            raise ValueError(f"train.optimizer.lr: {self.lr!r} must be a number > 0")
        if self.scheduler is not None and not callable(self.scheduler):
            raise ValueError(f"train.scheduler: must be callable or null, got {self.scheduler!r}")
        if self.scheduler is not None and self.budget.epochs is None:
            raise ValueError(
                "train.scheduler: is sized by the epoch budget; set train.epochs or "
                "train.scheduler=null"
            )
        if self.scheduler_interval not in SCHEDULER_INTERVALS:
            raise ValueError(
                f"train.scheduler_interval: {self.scheduler_interval!r} must be one of "
                f"{', '.join(SCHEDULER_INTERVALS)}"
            )
        self.make_optimizer([nn.Parameter(torch.zeros(1))])  # bad arguments fail here, not later

    def make_optimizer(
        self, params: Any, lr: float | None = None, **extra: float
    ) -> torch.optim.Optimizer:
        """The optimizer over ``params`` at ``lr`` (default: ``self.lr``), ``extra`` kwargs added.

        Raises:
            ValueError: the optimizer refuses its arguments (one line naming them).
        """
        kwargs = {**self.optimizer_kwargs, **extra}
        try:
            return self.optimizer(params, lr=self.lr if lr is None else lr, **kwargs)
        except (TypeError, ValueError) as exc:
            name = getattr(self.optimizer, "__name__", repr(self.optimizer))
            shown = {"lr": self.lr if lr is None else lr, **kwargs}
            raise ValueError(f"train.optimizer: {name}{shown} refused: {exc}") from None

    def with_epochs(self, epochs: int) -> TrainOptions:
        """The same options with an epoch budget of ``epochs`` (and the schedule sized to it)."""
        return dataclasses.replace(self, budget=Budget(epochs=epochs))

    def train_kwargs(self, lr: float | None = None, **extra: float) -> dict[str, Any]:
        """Keyword arguments for :func:`nas.train.train` at learning rate ``lr``."""
        return {
            "optimizer": functools.partial(self.make_optimizer, lr=lr, **extra),
            "scheduler": self.scheduler,
            "scheduler_interval": self.scheduler_interval,
            "budget": self.budget,
            "device": self.device,
            "amp": self.amp,
            "channels_last": self.channels_last,
            "progress": self.progress,
        }
