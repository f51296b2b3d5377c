"""Shared split and loader code: argument checks, seeded splits and the two loader paths.

In-memory data sets (mnist1d, digits) use a fast path: the sampler yields whole index batches and
the tensors are sliced in one call, so no per-example collation runs (about 5x less loader time at
batch size 128; with tiny models the loader would otherwise dominate an epoch). It is still a
plain :class:`torch.utils.data.DataLoader`: ``for x, y in loader`` and ``len(loader)`` (batches)
work as usual. File-backed sets use an ordinary DataLoader over a transformed dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(field: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise a one-line ValueError."""
    if not _is_int(value) or value < minimum:  # type: ignore[operator]
        raise ValueError(f"data: {field} must be an integer >= {minimum}, got {value!r}")
    return value  # type: ignore[return-value]


def check_fraction(field: str, value: object) -> float:
    """Return ``value`` as float if it lies strictly between 0 and 1, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"data: {field} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class LoaderOptions:
    """The loader keyword arguments shared by every factory, checked on construction."""

    batch_size: int = 128
    num_workers: int = 0
    pin_memory: bool = False
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("batch_size", self.batch_size, 1)
        check_int("num_workers", self.num_workers, 0)
        check_fraction("val_fraction", self.val_fraction)
        if not _is_int(self.seed):
            raise ValueError(f"data: seed must be an integer, got {self.seed!r}")
        if not isinstance(self.pin_memory, bool):
            raise ValueError(f"data: pin_memory must be true or false, got {self.pin_memory!r}")

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh CPU generator seeded with ``seed + offset``."""
        return torch.Generator().manual_seed(self.seed + offset)


def split_indices(
    n: int, fraction: float, seed: int, *, field: str = "val_fraction"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``range(n)`` at random into (kept, carved), the carved part ``round(n * fraction)``.

    Deterministic in ``seed``; both parts are sorted and non-empty (else ValueError).
    """
    carved = round(n * fraction)
    if carved < 1 or carved >= n:
        raise ValueError(
            f"data: {field}={fraction} of {n} examples leaves an empty split; "
            "use a fraction that keeps at least one example on each side, or more data"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[carved:].sort().values, perm[:carved].sort().values


def subsample(n: int, cap: int | None, seed: int) -> torch.Tensor | None:
    """Sorted random indices of ``min(n, cap)`` examples, or None when no cap applies."""
    if cap is None or cap >= n:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:cap].sort().values


def tensor_loader(
    x: torch.Tensor, y: torch.Tensor, opts: LoaderOptions, *, shuffle: bool
) -> DataLoader:
    """Fast in-memory loader over ``(x, y)``: whole batches are sliced, no per-item collation."""
    dataset = TensorDataset(x, y)
    generator = opts.generator(1) if shuffle else None
    base = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
    return DataLoader(
        dataset,
        batch_size=None,  # the sampler below already yields batches of indices
        sampler=BatchSampler(base, opts.batch_size, drop_last=False),
        num_workers=opts.num_workers,
        pin_memory=opts.pin_memory,
        generator=generator,
    )


class TransformedSubset(Dataset):
    """``base[indices[i]]`` with ``transform`` applied to the input (the label is kept).

    Lets the augmented train split and the plain val split share one loaded base data set.
    """

    def __init__(
        self,
        base: Sequence[tuple[Any, int]],
        indices: torch.Tensor | None,
        transform: Callable[[Any], torch.Tensor],
    ) -> None:
        self.base = base
        self.indices = None if indices is None else indices.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base) if self.indices is None else len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x, y = self.base[i if self.indices is None else self.indices[i]]
        return self.transform(x), int(y)


def dataset_loader(dataset: Dataset, opts: LoaderOptions, *, shuffle: bool) -> DataLoader:
    """Ordinary DataLoader; shuffled with a generator seeded from ``opts.seed`` when asked."""
    return DataLoader(
        dataset,
        batch_size=opts.batch_size,
        shuffle=shuffle,
        generator=opts.generator(1) if shuffle else None,
        num_workers=opts.num_workers,
        pin_memory=opts.pin_memory,
        persistent_workers=opts.num_workers > 0,
    )
