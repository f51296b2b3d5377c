"""mnist1d and digits: shapes, classes, seeded disjoint splits, loader behaviour, bad input."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch

import nas.data
from nas.data import DataBundle


def _all(loader: torch.utils.data.DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def _rows(x: torch.Tensor) -> Counter:
    return Counter(r.numpy().tobytes() for r in x.flatten(1))


@pytest.fixture(scope="module")
def small() -> DataBundle:
    return nas.data.mnist1d(n_samples=1000, batch_size=64, seed=0)


def test_mnist1d_shapes_and_sizes(small: DataBundle) -> None:
    assert small.name == "mnist1d" and small.input_shape == (1, 40) and small.num_classes == 10
    assert small.sizes() == {"train": 720, "val": 80, "test": 200}  # 80/20, then 10% of train
    x, y = next(iter(small.train))
    assert x.shape == (64, 1, 40) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert len(small.train) == 12  # ceil(720 / 64): the last batch is kept
    assert [len(yb) for _, yb in small.val] == [64, 16]


def test_mnist1d_classes_and_disjoint_splits(small: DataBundle) -> None:
    parts = {s: _all(getattr(small, s)) for s in ("train", "val", "test")}
    y_all = torch.cat([y for _, y in parts.values()])
    assert Counter(y_all.tolist()) == dict.fromkeys(range(10), 100)  # n_samples // 10 per class
    for _, y in parts.values():
        assert set(y.tolist()) == set(range(10))
    rows = {s: _rows(x) for s, (x, _) in parts.items()}
    assert sum(rows.values(), Counter()).most_common(1)[0][1] == 1  # no example in two splits


def test_val_is_carved_from_mnist1d_train() -> None:
    """Changing val_fraction moves examples between train and val; test stays the same."""
    a = nas.data.mnist1d(n_samples=500, val_fraction=0.1)
    b = nas.data.mnist1d(n_samples=500, val_fraction=0.5)
    assert a.sizes() == {"train": 360, "val": 40, "test": 100}
    assert b.sizes() == {"train": 200, "val": 200, "test": 100}
    train_val = [_rows(torch.cat([_all(d.train)[0], _all(d.val)[0]])) for d in (a, b)]
    assert train_val[0] == train_val[1]
    assert torch.equal(_all(a.test)[0], _all(b.test)[0])


def test_deterministic_under_seed() -> None:
    a, b = (nas.data.mnist1d(n_samples=300, seed=1) for _ in range(2))
    c = nas.data.mnist1d(n_samples=300, seed=2)
    for split in ("train", "val", "test"):
        assert all(
            torch.equal(u, v)
            for u, v in zip(_all(getattr(a, split)), _all(getattr(b, split)), strict=True)
        )
    assert not torch.equal(_all(a.val)[0], _all(c.val)[0])


def test_train_shuffles_val_does_not_and_generator_replays(small: DataBundle) -> None:
    first, second = _all(small.train)[1], _all(small.train)[1]
    assert not torch.equal(first, second)  # a new order every epoch
    assert torch.equal(_all(small.val)[1], _all(small.val)[1])
    small.train.generator.manual_seed(123)
    again = _all(small.train)[1]
    small.train.generator.manual_seed(123)
    assert torch.equal(again, _all(small.train)[1])


def test_mnist1d_leaves_global_rngs_alone() -> None:
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    nas.data.mnist1d(n_samples=120, seed=99)  # uncached: runs mnist1d's generator
    assert (random.random(), np.random.rand()) == expected


def test_digits_partition_and_shapes() -> None:
    from sklearn.datasets import load_digits

    data = nas.data.digits(batch_size=256, seed=0)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert data.sizes() == {"train": 1294, "val": 144, "test": 359}
    parts = [_all(getattr(data, s)) for s in ("train", "val", "test")]
    x = torch.cat([p[0] for p in parts])
    assert x.shape[1:] == (1, 8, 8) and x.min() == 0 and x.max() == 1
    full = torch.tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 16
    assert _rows(x) == _rows(full)  # every image in exactly one split
    for _, y in parts:
        assert set(y.tolist()) == set(range(10))
    other = nas.data.digits(seed=1)
    assert not torch.equal(_all(data.test)[0], _all(other.test)[0])


def test_load_matches_factory_and_registry_names() -> None:
    assert sorted(nas.data.DATASETS) == [
        "cifar10", "cifar100", "digits", "fashion_mnist", "mnist", "mnist1d",
    ]  # fmt: skip
    a = nas.data.load("digits", batch_size=32)
    b = nas.data.digits(batch_size=32)
    assert torch.equal(_all(a.test)[0], _all(b.test)[0])


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        ("mnist1d", {"n_samples": 0}, "n_samples"),
        ("mnist1d", {"n_samples": -5}, "n_samples"),
        ("mnist1d", {"batch_size": 0}, "batch_size"),
        ("digits", {"batch_size": -1}, "batch_size"),
        ("digits", {"batch_size": 2.5}, "batch_size"),
        ("mnist1d", {"val_fraction": 0.0}, "val_fraction"),
        ("mnist1d", {"val_fraction": 1.0}, "val_fraction"),
        ("digits", {"val_fraction": -0.1}, "val_fraction"),
        ("digits", {"test_fraction": 1.5}, "test_fraction"),
        ("digits", {"num_workers": -1}, "num_workers"),
        ("mnist1d", {"seed": "x"}, "seed"),
    ],
)
def test_bad_input_one_line(name: str, kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field) as err:
        nas.data.load(name, **kwargs)
    assert "\n" not in str(err.value)


def test_unknown_name() -> None:
    with pytest.raises(ValueError) as err:
        nas.data.load("imagenet")
    assert str(err.value) == (
        "data: unknown data set 'imagenet'; choose one of: "
        "cifar10, cifar100, digits, fashion_mnist, mnist, mnist1d"
    )


def test_import_is_light() -> None:
    """`import nas.data` pulls in no Hydra and defers the heavy per-data-set imports."""
    code = "import sys, nas.data; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    top = {m.split(".")[0] for m in out.stdout.split()}
    assert not top & {"hydra", "omegaconf", "torchvision", "sklearn", "mnist1d", "matplotlib"}


def test_worker_processes_give_the_same_batches() -> None:
    """num_workers only moves batch slicing to another process; order and content are unchanged."""
    with_workers = nas.data.digits(num_workers=1, batch_size=200)
    in_process = nas.data.digits(num_workers=0, batch_size=200)
    for split in ("train", "test"):
        a, b = _all(getattr(with_workers, split)), _all(getattr(in_process, split))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
