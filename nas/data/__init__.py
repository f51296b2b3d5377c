"""Data sets and loaders: one keyword-only factory per data set, each returning a DataBundle.

>>> data = nas.data.load("mnist1d", n_samples=1000, batch_size=64)   # or nas.data.mnist1d(...)
>>> data.input_shape, data.num_classes, data.sizes()

Every factory takes ``batch_size``, ``num_workers``, ``pin_memory``, ``val_fraction`` and ``seed``.
Implementations live in private modules (``_mnist1d`` ...) so that a module never shadows the
factory of the same name. No Hydra here: configs in ``conf/data/`` target these factories.
"""

from __future__ import annotations

from collections.abc import Callable

from nas.data._digits import digits
from nas.data._mnist1d import mnist1d
from nas.data._vision import cifar10, cifar100, fashion_mnist, mnist
from nas.data.bundle import DataBundle, DataError

DATASETS: dict[str, Callable[..., DataBundle]] = {
    "mnist1d": mnist1d,
    "digits": digits,
    "mnist": mnist,
    "fashion_mnist": fashion_mnist,
    "cifar10": cifar10,
    "cifar100": cifar100,
}


def load(name: str, **kwargs: object) -> DataBundle:
    """Build data set ``name`` (a key of :data:`DATASETS`) with the factory's keyword arguments."""
    if name not in DATASETS:
        raise ValueError(
            f"data: unknown data set {name!r}; choose one of: {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[name](**kwargs)


__all__ = [
    "DATASETS",
    "DataBundle",
    "DataError",
    "cifar10",
    "cifar100",
    "digits",
    "fashion_mnist",
    "load",
    "mnist",
    "mnist1d",
]
