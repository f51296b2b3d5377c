"""Helpers shared by the Hydra command-line apps: config -> objects, and one-line errors.

Only CLI modules import Hydra/OmegaConf; the library below them takes plain Python values.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
log = logging.getLogger("nas")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line naming what is wrong, drop the empty Hydra run folder, exit non-zero."""
    _remove_empty_run_dir()
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def _remove_empty_run_dir() -> None:
    """Hydra makes the run folder before the app starts; a run that failed on its input
    leaves nothing behind, so remove it when it holds only Hydra's own bookkeeping."""
    if not HydraConfig.initialized():
        return
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if not run_dir.is_dir():
        return
    own = {".hydra", f"{HydraConfig.get().job.name}.log"}
    if all(entry.name in own for entry in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # the date folder Hydra made for it, if now empty
            run_dir.parent.rmdir()


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, InstantiationException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input rather than a bug."""
    errors: list[type[BaseException]] = [ValueError, FileNotFoundError, KeyError]
    try:
        from nas.net2net import Net2NetError

        errors.append(Net2NetError)
    except ImportError:  # pragma: no cover - net2net always ships with the package
        pass
    return tuple(errors)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a CLI body; a user error becomes `error: ...` on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InstantiationException as exc:
            cause = _root_cause(exc)
            fail(_one_line(cause))
        except user_errors() as exc:
            fail(_one_line(exc))

    return wrapper


def to_plain(cfg: Any) -> Any:
    """A resolved plain-Python copy of a config node (dicts, lists, scalars)."""
    if OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def instantiate_data(cfg: DictConfig) -> Any:
    """Build the configured data set (a nas.data.DataBundle)."""
    return instantiate(cfg.data, _convert_="all")


def model_spec_from(cfg: DictConfig) -> dict:
    """The configured model as a registry spec (``nas.models.model_spec``): how both apps read it."""
    from nas.models import model_spec

    kwargs = to_plain(cfg.model)
    for key in ("_target_", "_convert_", "checkpoint"):
        kwargs.pop(key, None)
    return model_spec(kwargs.pop("name"), **kwargs)


def data_spec_from(cfg: DictConfig) -> dict:
    """What defines the configured data (a resumed study must match): the data config without
    the loader options that change nothing in the examples."""
    spec = to_plain(cfg.data)
    for key in ("num_workers", "pin_memory", "_convert_"):
        spec.pop(key, None)
    return spec


def _positive(value: Any, field: str, kind: type) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        fail(f"{field} must be a positive {kind.__name__} or null (got {value!r})")
    return kind(value)


def budget_from(train_cfg: DictConfig, prefix: str = "train") -> Any:
    """A nas.train.Budget from `epochs`, `max_steps`, `max_seconds`, each checked for > 0."""
    from nas.train import Budget

    epochs = _positive(train_cfg.get("epochs"), f"{prefix}.epochs", int)
    steps = _positive(train_cfg.get("max_steps"), f"{prefix}.max_steps", int)
    seconds = _positive(train_cfg.get("max_seconds"), f"{prefix}.max_seconds", float)
    if epochs is None and steps is None and seconds is None:
        fail(f"{prefix}: set at least one budget of epochs, max_steps or max_seconds")
    return Budget(epochs=epochs, steps=steps, seconds=seconds)


def _callable_from(node: Any) -> Any:
    """A ``_partial_`` config as the callable it names (unwrapped when it binds nothing)."""
    fn = instantiate(node)
    if isinstance(fn, functools.partial) and not fn.args and not fn.keywords:
        return fn.func
    return fn


def train_options(train_cfg: DictConfig, prefix: str = "train") -> Any:
    """A nas.train.TrainOptions from the `train` config group (lr kept apart from the optimizer)."""
    from nas.train import TrainOptions

    opt = dict(to_plain(train_cfg.optimizer))
    target = opt.pop("_target_")
    opt.pop("_partial_", None)
    given = {"lr": opt.pop("lr")} if "lr" in opt else {}
    scheduler_cfg = train_cfg.get("scheduler")
    return TrainOptions(
        budget=budget_from(train_cfg, prefix),
        optimizer=get_method(target),
        optimizer_kwargs=opt,
        scheduler=_callable_from(scheduler_cfg) if scheduler_cfg is not None else None,
        scheduler_interval=str(train_cfg.scheduler_interval),
        device=str(train_cfg.get("device", "auto")),
        amp=bool(train_cfg.get("amp", True)),
        channels_last=bool(train_cfg.get("channels_last", True)),
        progress=bool(train_cfg.get("progress", True)),
        **given,
    )


def check_group_choices(argv: list[str], config_dir: str = CONFIG_DIR) -> None:
    """Refuse `group=option` overrides naming a config file that does not exist.

    Hydra would report this too, over several lines with a hint about stack traces; this
    gives the one line a user needs before Hydra starts (and before it makes a run folder).
    """
    root = Path(config_dir)
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+~")
        group = root / key
        if "." in key or "/" in key or not group.is_dir() or value in ("", "null"):
            continue
        if "(" in value:  # a sweep function (choice(...), glob(...)): Hydra checks those
            continue
        options = sorted(p.stem for p in group.glob("*.yaml"))
        for choice in value.split(","):  # `-m data=mnist1d,digits` sweeps over options
            if choice.strip() not in options:
                print(
                    f"error: {key}: unknown option {choice.strip()!r}; "
                    f"choose one of: {', '.join(options)}",
                    file=sys.stderr,
                )
                raise SystemExit(2)


def _leaf_keys(node: Any, prefix: str = "") -> list[str]:
    if not isinstance(node, dict):
        return [prefix]
    keys = [prefix] if prefix else []
    for key, value in node.items():
        keys += _leaf_keys(value, f"{prefix}.{key}" if prefix else str(key))
    return keys


def check_override_keys(argv: list[str], config_name: str, config_dir: str = CONFIG_DIR) -> None:
    """Refuse `key=value` overrides naming a key the composed config does not have.

    Hydra reports this too, over several lines; this gives one line naming the closest valid key
    (`serach.trials=3` -> `search.trials`) before Hydra starts and makes a run folder.
    """
    import difflib

    from hydra import compose, initialize_config_dir

    pairs = [a.split("=", 1) for a in argv if "=" in a and not a.startswith(("-", "+", "~"))]
    pairs = [(k, v) for k, v in pairs if not k.startswith(("hydra.", "hydra/")) and k != "hydra"]
    keys = [k for k, _ in pairs]  # (hydra.* and hydra/launcher=... are Hydra's own)
    if not keys:
        return
    groups = [f"{k}={v}" for k, v in pairs if (Path(config_dir) / k).is_dir() and "," not in v]
    try:
        with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
            cfg = compose(config_name, overrides=groups)
    except Exception:  # a bad group choice: check_group_choices / Hydra report it
        return
    known = _leaf_keys(OmegaConf.to_container(cfg, resolve=False))
    for key in keys:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        print(
            f"error: unknown config key {key!r}{hint} "
            f"(add a new key with +{key}=..., see --help for the fields)",
            file=sys.stderr,
        )
        raise SystemExit(2)


def early_setup() -> None:
    """First thing a console entry point does, before anything imports torch: OpenMP threads
    that sleep instead of spinning while they wait (see nas.train.threads)."""
    from nas.train.threads import prefer_passive_wait

    prefer_passive_wait()


def launcher_jobs() -> int | None:
    """Parallel jobs of the Hydra launcher in a multirun (e.g. joblib's ``n_jobs``), else None."""
    if not HydraConfig.initialized():
        return None
    from hydra.types import RunMode

    hc = HydraConfig.get()
    n_jobs = hc.launcher.get("n_jobs") if hc.mode == RunMode.MULTIRUN else None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        return None
    if n_jobs < 0:  # joblib: -1 = one job per core, -2 = all but one, ...
        from nas.train.threads import available_cores

        n_jobs = max(1, available_cores() + 1 + n_jobs)
    return n_jobs


def set_threads(cfg: DictConfig) -> Any:
    """Apply the ``threads`` / ``workers`` settings to torch, print and log the choice."""
    from nas.train.threads import apply_threads, plan_threads

    workers = cfg.get("workers")
    if workers is None:
        workers = launcher_jobs()
    try:
        plan = apply_threads(plan_threads(cfg.get("threads", "auto"), workers=workers))
    except ValueError as exc:
        fail(str(exc))
    print(plan.describe(), flush=True)
    log.info(plan.describe())
    return plan
