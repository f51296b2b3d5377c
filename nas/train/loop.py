"""The training loop: one plain, fast PyTorch loop with budgets, a val curve and divergence stop.

Speed notes (tiny models on tiny batches are bound by Python overhead): the training loss is
summed on a tensor and read once per epoch, evaluation runs under ``inference_mode`` with one
read at the end, gradients are set to None. On CPU each step's loss is checked for NaN/inf before
its backward pass (cheap, no device sync); on CUDA every ``_CUDA_CHECK_EVERY`` steps.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer
from torch.utils.data import DataLoader

from nas.net2net.graph import in_mode
from nas.train.exact import ExactCounter
from nas.train.progress import progress_bar
from nas.train.results import Budget, EpochRecord, TrainResult

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
#: ``(optimizer, length) -> LR scheduler``: ``length`` is the run's length in scheduler steps
#: (epochs, or optimizer steps with ``scheduler_interval="step"``), so one factory fits any budget.
SchedulerFactory = Callable[[Optimizer, int], Any]
SCHEDULER_INTERVALS = ("epoch", "step")

DEFAULT_OPTIMIZER: OptimizerFactory = functools.partial(torch.optim.AdamW, lr=1e-3)
_CUDA_CHECK_EVERY = 50


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` as given.

    Raises:
        ValueError: an unknown device string, or CUDA asked for but not available.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"train: device must be auto, cpu or cuda[:N], got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("train: device cuda asked for but CUDA is not available; use cpu or auto")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"train: device must be auto, cpu or cuda[:N], got {device!r}")
    return dev


def _autocast(dev: torch.device, amp: bool) -> Callable[[], Any]:
    """A context factory: bf16 (or fp16 where bf16 is missing) autocast on CUDA, else nothing."""
    if dev.type != "cuda" or not amp:
        return contextlib.nullcontext
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return functools.partial(torch.autocast, device_type="cuda", dtype=dtype)


def _to(x: torch.Tensor, dev: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(dev, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _evaluate(
    model: nn.Module,
    loader: DataLoader,
    dev: torch.device,
    autocast: Any,
    channels_last: bool,
    exact: bool = False,
) -> tuple[float, float]:
    loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
    correct = torch.zeros((), dtype=torch.int64, device=dev)
    counter = ExactCounter() if exact else None
    seen = 0
    with in_mode(model), torch.inference_mode(), (contextlib.nullcontext if exact else autocast)():
        for x, y in loader:
            x, y = _to(x, dev, channels_last), y.to(dev, non_blocking=True)
            out = model(x).float()
            loss_sum += F.cross_entropy(out, y, reduction="sum")
            if counter is None:
                correct += (out.argmax(dim=1) == y).sum()
            else:
                counter.add(out, x, y)
            seen += y.shape[0]
    if seen == 0:
        raise ValueError("evaluate: the loader yielded no examples")
    if counter is not None:  # near-ties re-decided by a float64 eval-mode copy
        return loss_sum.item() / seen, counter.accuracy(model)
    return loss_sum.item() / seen, correct.item() / seen


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: str | torch.device = "cpu",
    *,
    amp: bool = False,
    exact: bool = False,
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy in [0, 1] of ``model`` on ``loader`` (eval mode).

    The model is moved to ``device``; its train/eval mode is restored afterwards. ``exact``: the
    accuracy a float64 copy of the model computes, from float32 passes with float64 only for
    near-ties (``nas.train.exact``; no autocast) - equal for a Net2Net child and its parent.
    """
    dev = resolve_device(device)
    model.to(dev)
    return _evaluate(model, loader, dev, _autocast(dev, amp), channels_last=False, exact=exact)


def _make_optimizer(model: nn.Module, optimizer: OptimizerFactory, state: dict | None) -> Optimizer:
    """``optimizer(params)``; ``state`` (e.g. Net2Net-grown moments) is loaded per parameter,
    while the configured hyperparameters (lr, weight decay, ...) stay as configured."""
    if not callable(optimizer):
        raise ValueError(
            f"train: optimizer must be a callable params -> Optimizer, got {optimizer!r}"
        )
    opt = optimizer(model.parameters())
    if state is not None:
        configured = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        try:
            opt.load_state_dict(state)
        except (ValueError, KeyError) as err:
            raise ValueError(f"train: optimizer_state does not fit this model ({err})") from err
        for group, hyper in zip(opt.param_groups, configured, strict=True):
            group.update(hyper)
    return opt


def _seed(data: Any, seed: int | None) -> None:
    """Seed torch and the train loader's shuffling generator (same seed -> same order)."""
    if seed is None:
        return
    torch.manual_seed(seed)
    generator = getattr(data.train, "generator", None)
    if isinstance(generator, torch.Generator):
        generator.manual_seed(seed)


def schedule_length(budget: Budget, batches: int | None, per_step: bool) -> int:
    """A run's length in scheduler steps: its epochs, or its optimizer steps (epochs x batches
    per epoch, capped by ``budget.steps``).

    Raises:
        ValueError: the budget does not fix that length (a seconds-only budget; per-step with
            neither a step budget nor a loader of known length).
    """
    if not per_step:
        if budget.epochs is None:
            raise ValueError("train: a per-epoch scheduler needs an epoch budget (budget.epochs)")
        return budget.epochs
    steps = [] if budget.steps is None else [budget.steps]
    if budget.epochs is not None and batches is not None:
        steps.append(budget.epochs * batches)
    if not steps:
        raise ValueError(
            "train: a per-step scheduler needs budget.steps, or budget.epochs with a train "
            "loader of known length"
        )
    return max(min(steps), 1)


def train(
    model: nn.Module,
    data: Any,
    *,
    optimizer: OptimizerFactory = DEFAULT_OPTIMIZER,
    scheduler: SchedulerFactory | None = None,
    scheduler_interval: str = "epoch",
    budget: Budget,
    device: str | torch.device = "cpu",
    seed: int | None = 0,
    amp: bool = True,
    channels_last: bool = True,
    progress: bool = True,
    on_epoch: Callable[[EpochRecord], Any] | None = None,
    optimizer_state: dict | None = None,
    exact_val: bool = False,
) -> TrainResult:
    """Train ``model`` on ``data.train`` with cross-entropy, validating on ``data.val`` per epoch.

    Args:
        model: Any classifier returning logits; moved to ``device`` in place.
        data: A ``nas.data.DataBundle`` (``train`` and ``val`` loaders are used).
        optimizer: ``params -> Optimizer`` (e.g. a ``functools.partial`` from a Hydra
            ``_partial_`` config).
        scheduler: ``(optimizer, length) -> LR scheduler`` or None; ``length`` is the run's
            length in scheduler steps, from the budget (see :func:`schedule_length`).
        scheduler_interval: ``"epoch"``: the scheduler steps after each epoch; ``"step"``: after
            each optimizer step, so a run of one or two epochs still anneals (a warm-started
            student's short fine-tune ends at a low rate instead of mid-schedule).
        budget: Epoch / step / seconds limits; the first reached ends the run.
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
        seed: Seeds torch and the train loader's order; None leaves both as they are.
        amp: Mixed precision (bf16, or fp16 with a GradScaler) - CUDA only.
        channels_last: Channels-last memory format for 4D inputs - CUDA only.
        progress: Show a transient rich progress bar (only on a terminal).
        on_epoch: Called with each :class:`EpochRecord`; a true return value (``True``,
            ``numpy.True_``) stops the run, unless its budget is used up with that epoch.
        optimizer_state: An optimizer ``state_dict`` loaded after creation (per-parameter state
            such as Adam moments; the configured hyperparameters are kept).
        exact_val: Val accuracy as ``evaluate(..., exact=True)`` computes it (float64 for
            near-ties, no autocast), so the last epoch's is the final model's exact accuracy
            without another pass.

    Returns:
        A :class:`TrainResult`; a NaN/inf loss gives status ``"diverged"`` instead of raising.

    Raises:
        ValueError: a bad argument (one line naming it).
    """
    if not isinstance(budget, Budget):
        raise ValueError(f"train: budget must be a nas.train.Budget, got {budget!r}")
    if scheduler is not None and not callable(scheduler):
        raise ValueError(f"train: scheduler must be callable or None, got {scheduler!r}")
    if scheduler_interval not in SCHEDULER_INTERVALS:
        raise ValueError(
            f"train: scheduler_interval must be one of {SCHEDULER_INTERVALS}, "
            f"got {scheduler_interval!r}"
        )
    dev = resolve_device(device)
    use_cl = channels_last and dev.type == "cuda"
    start = time.perf_counter()
    _seed(data, seed)
    model.to(dev)
    if use_cl:
        model.to(memory_format=torch.channels_last)
    opt = _make_optimizer(model, optimizer, optimizer_state)
    loader = data.train
    try:
        batches: int | None = len(loader)
    except TypeError:
        batches = None
    per_step = scheduler_interval == "step"
    sched = None
    if scheduler is not None:
        sched = scheduler(opt, schedule_length(budget, batches, per_step))
    autocast = _autocast(dev, amp)
    scaler = None
    if dev.type == "cuda" and amp and not torch.cuda.is_bf16_supported():
        scaler = torch.amp.GradScaler("cuda")
    check_every = 1 if dev.type == "cpu" else _CUDA_CHECK_EVERY

    curve: list[EpochRecord] = []
    status, message = "completed", ""
    step = epoch = 0
    compute = 0.0
    done = False
    with progress_bar(progress) as bar:
        while not done:
            epoch += 1
            model.train()
            lr = float(opt.param_groups[0]["lr"])
            loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
            seen = 0
            bar.start_epoch(epoch, batches, curve[-1].val_acc if curve else None)
            for x, y in loader:
                t0 = time.perf_counter()
                x, y = _to(x, dev, use_cl), y.to(dev, non_blocking=True)
                with autocast():
                    loss = F.cross_entropy(model(x), y)
                if step % check_every == 0 and not torch.isfinite(loss):
                    status, done = "diverged", True
                    message = f"train: loss became {loss.item()} at step {step + 1} (epoch {epoch})"
                    break
                opt.zero_grad(set_to_none=True)
                if scaler is None:
                    loss.backward()
                    opt.step()
                else:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                if per_step and sched is not None:
                    sched.step()
                loss_sum += loss.detach() * y.shape[0]
                seen += y.shape[0]
                step += 1
                compute += time.perf_counter() - t0
                bar.advance()
                if (budget.steps is not None and step >= budget.steps) or (
                    budget.seconds is not None and time.perf_counter() - start >= budget.seconds
                ):
                    done = True
                    break
            if status == "diverged":
                break
            if seen == 0:
                raise ValueError("train: data.train yielded no batches")
            train_loss = loss_sum.item() / seen
            if not math.isfinite(train_loss):
                status, done = "diverged", True
                message = f"train: loss became {train_loss} during epoch {epoch} (by step {step})"
                break
            t0 = time.perf_counter()
            val_loss, val_acc = _evaluate(model, data.val, dev, autocast, use_cl, exact_val)
            compute += time.perf_counter() - t0
            record = EpochRecord(
                epoch, step, train_loss, val_loss, val_acc, lr, time.perf_counter() - start
            )
            curve.append(record)
            if sched is not None and not per_step:
                sched.step()
            if budget.epochs is not None and epoch >= budget.epochs:
                done = True
            # a stop asked for once the budget is used up saves nothing: the run completed
            # (and its result counts); numpy.bool_ is a true value too (Optuna's pruners)
            if on_epoch is not None and on_epoch(record) and not done:
                status, done = "stopped", True
                message = f"train: stopped by on_epoch after epoch {epoch}"
    if status == "completed":
        message = f"train: budget used up after {epoch} epochs, {step} steps"
    elif status == "diverged":
        message += "; lower the learning rate or check the inputs"
    accs = [r.val_acc for r in curve]
    return TrainResult(
        status=status,
        curve=curve,
        best_val_acc=max(accs, default=0.0),
        final_val_acc=accs[-1] if accs else 0.0,
        steps=step,
        seconds=time.perf_counter() - start,
        compute_seconds=compute,
        message=message,
        optimizer_state=opt.state_dict(),
    )
