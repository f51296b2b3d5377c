"""MNIST-1D, generated offline by the mnist1d package (never its download path)."""

from __future__ import annotations

import functools
import random

import numpy as np
import torch

from nas.data.bundle import DataBundle
from nas.data.loaders import LoaderOptions, check_int, split_indices, tensor_loader


@functools.lru_cache(maxsize=4)
def _generate(
    n_samples: int, seed: int, corr_noise_scale: float, iid_noise_scale: float
) -> tuple[np.ndarray, ...]:
    """Run ``make_dataset`` once per (n_samples, seed) in this process (about 0.15 s per 1000).

    mnist1d reseeds the global ``random`` and ``numpy`` generators; their state is restored so
    that building a data set has no side effect on the caller's randomness.
    """
    from mnist1d.data import get_dataset_args, make_dataset  # slow import (matplotlib): lazy

    args = get_dataset_args()
    args.num_samples = n_samples
    args.seed = seed
    args.corr_noise_scale = corr_noise_scale
    args.iid_noise_scale = iid_noise_scale
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        d = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    arrays = (d["x"], d["y"], d["x_test"], d["y_test"])
    for a in arrays:
        a.setflags(write=False)  # cached: nobody may change them in place
    return arrays


def mnist1d(
    *,
    n_samples: int = 4000,
    batch_size: int = 128,
    num_workers: int = 0,
    pin_memory: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
    corr_noise_scale: float = 0.25,
    iid_noise_scale: float = 0.02,
) -> DataBundle:
    """MNIST-1D: 10 classes of 40-sample 1D signals, input shape ``(1, 40)``.

    ``make_dataset`` draws ``n_samples // 10`` examples per class from ``seed`` and keeps its own
    80/20 train/test split; val (``val_fraction`` of train) is carved from train with ``seed``.
    The signals are already centred with unit standard deviation (by mnist1d).

    Args:
        n_samples: Total examples before any split; at least 10 (one per class), rounded down
            to a multiple of 10.
        batch_size, num_workers, pin_memory: Passed to the DataLoaders.
        val_fraction: Share of the train split held out as val, in (0, 1).
        seed: Seeds the generation, the val split and the train shuffling.
        corr_noise_scale, iid_noise_scale: The generator's correlated and independent noise
            (its defaults 0.25 and 0.02); more noise makes a harder task on which the
            architecture matters more (``conf/data/mnist1d_large.yaml``).

    Raises:
        ValueError: a bad argument (one line naming it).
    """
    check_int("n_samples", n_samples, 10)
    for name, value in (
        ("corr_noise_scale", corr_noise_scale),
        ("iid_noise_scale", iid_noise_scale),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"data.{name}: {value!r} must be a number >= 0")
    opts = LoaderOptions(batch_size, num_workers, pin_memory, val_fraction, seed)
    x, y, x_test, y_test = _generate(
        n_samples, seed, float(corr_noise_scale), float(iid_noise_scale)
    )
    x_all = torch.tensor(x, dtype=torch.float32).unsqueeze(1)
    y_all = torch.tensor(y, dtype=torch.int64)
    train_idx, val_idx = split_indices(len(y_all), val_fraction, seed)
    return DataBundle(
        name="mnist1d",
        train=tensor_loader(x_all[train_idx], y_all[train_idx], opts, shuffle=True),
        val=tensor_loader(x_all[val_idx], y_all[val_idx], opts, shuffle=False),
        test=tensor_loader(
            torch.tensor(x_test, dtype=torch.float32).unsqueeze(1),
            torch.tensor(y_test, dtype=torch.int64),
            opts,
            shuffle=False,
        ),
        input_shape=(1, x.shape[1]),
        num_classes=10,
    )
