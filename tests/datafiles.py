"""Writers for tiny data sets in each torchvision set's own on-disk format (no network here).

Shared by tests/data and tests/cli (tests/ is on sys.path through its conftest.py).
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

N_TRAIN, N_TEST = 50, 20


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX ("ubyte") file as in LeCun's MNIST: magic 0x0000 08 <ndim>, big-endian dims, bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _pickle(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


def write_mnist_like(root: Path, folder: str, seed: int = 0) -> dict[str, np.ndarray]:
    """``root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``; returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, prefix, n in (("train", "train", N_TRAIN), ("test", "t10k", N_TEST)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) * 3 % 10).astype(np.uint8)
        _write_idx(root / folder / "raw" / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(root / folder / "raw" / f"{prefix}-labels-idx1-ubyte", labels)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    return arrays


def write_cifar10(root: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """``root/cifar-10-batches-py``: data_batch_1..5, test_batch (rows R|G|B planes), batches.meta."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    per_batch = N_TRAIN // 5
    train_labels: list[int] = []
    for i in range(5):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(per_batch)]
        _pickle(base / f"data_batch_{i + 1}", {"data": data, "labels": labels})
        train_labels += labels
    test = rng.integers(0, 256, size=(N_TEST, 3072), dtype=np.uint8)
    test_labels = [j % 10 for j in range(N_TEST)]
    _pickle(base / "test_batch", {"data": test, "labels": test_labels})
    _pickle(base / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    return {
        "train_labels": np.array(train_labels),
        "test_images": test,
        "test_labels": np.array(test_labels),
    }


def write_cifar100(root: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """``root/cifar-100-python``: train, test (fine and coarse labels) and meta."""
    rng = np.random.default_rng(seed)
    base = root / "cifar-100-python"
    arrays = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        fine = [(7 * j) % 100 for j in range(n)]
        _pickle(
            base / split,
            {"data": data, "fine_labels": fine, "coarse_labels": [f // 5 for f in fine]},
        )
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = data, np.array(fine)
    _pickle(base / "meta", {"fine_label_names": [f"c{i}" for i in range(100)]})
    return arrays


WRITERS: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
    "mnist": lambda root: write_mnist_like(root, "MNIST"),
    "fashion_mnist": lambda root: write_mnist_like(root, "FashionMNIST"),
    "cifar10": write_cifar10,
    "cifar100": write_cifar100,
}
