"""scikit-learn's bundled 8x8 handwritten digits (1797 images, no download)."""

from __future__ import annotations

import torch

from nas.data.bundle import DataBundle
from nas.data.loaders import LoaderOptions, check_fraction, split_indices, tensor_loader


def digits(
    *,
    test_fraction: float = 0.2,
    batch_size: int = 128,
    num_workers: int = 0,
    pin_memory: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> DataBundle:
    """The UCI digits as ``1x8x8`` float images scaled to [0, 1], 10 classes.

    The set has no test split of its own: ``test_fraction`` of it is carved as test with
    ``seed``, then ``val_fraction`` of the rest as val (a different draw of the same seed).

    Args:
        test_fraction: Share of all 1797 images held out as test, in (0, 1).
        batch_size, num_workers, pin_memory: Passed to the DataLoaders.
        val_fraction: Share of the remaining train split held out as val, in (0, 1).
        seed: Seeds the splits and the train shuffling.

    Raises:
        ValueError: a bad argument (one line naming it).
    """
    from sklearn.datasets import load_digits  # keeps `import nas.data` light

    check_fraction("test_fraction", test_fraction)
    opts = LoaderOptions(batch_size, num_workers, pin_memory, val_fraction, seed)
    raw = load_digits()
    x = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values 0..16
    y = torch.tensor(raw.target, dtype=torch.int64)
    rest, test_idx = split_indices(len(y), test_fraction, seed, field="test_fraction")
    train_pos, val_pos = split_indices(len(rest), val_fraction, seed + 1)
    train_idx, val_idx = rest[train_pos], rest[val_pos]
    return DataBundle(
        name="digits",
        train=tensor_loader(x[train_idx], y[train_idx], opts, shuffle=True),
        val=tensor_loader(x[val_idx], y[val_idx], opts, shuffle=False),
        test=tensor_loader(x[test_idx], y[test_idx], opts, shuffle=False),
        input_shape=(1, 8, 8),
        num_classes=10,
    )
