"""torchvision sets read from files the tests write in each set's own format; one-line errors."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

import nas.data
from nas.data import DataError

MEAN_STD = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
SHAPES = {
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "cifar100": (3, 32, 32),
}
CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100}
ALL = list(MEAN_STD)


def _kw(name: str, root: Path, **extra: object) -> dict:
    """Our files are not the official release: CIFAR readers must skip torchvision's md5 check."""
    checks = {"verify_checksums": False} if name.startswith("cifar") else {}
    return {"root": str(root), "batch_size": 8, **checks, **extra}


def _all(loader: torch.utils.data.DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def _one_line(err: pytest.ExceptionInfo, *words: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, (w, msg)
    return msg


@pytest.mark.parametrize("name", ALL)
def test_reads_written_files_normalized(name: str, write_files) -> None:
    root, arrays = write_files(name)
    data = nas.data.load(name, **_kw(name, root))
    n_train, n_test = len(arrays["train_labels"]), len(arrays["test_labels"])
    assert data.input_shape == SHAPES[name] and data.num_classes == CLASSES[name]
    assert data.sizes() == {"train": n_train - round(0.1 * n_train), "val": 5, "test": n_test}

    x, y = _all(data.test)  # not shuffled: the file's order
    assert x.shape == (n_test, *SHAPES[name]) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.tolist() == arrays["test_labels"].tolist()
    raw = torch.from_numpy(arrays["test_images"].reshape(n_test, *SHAPES[name]).astype(np.float32))
    mean, std = (torch.tensor(v).view(-1, 1, 1) for v in MEAN_STD[name])
    torch.testing.assert_close(x, (raw / 255 - mean) / std, atol=1e-5, rtol=1e-5)

    xb, yb = next(iter(data.train))
    assert xb.shape == (8, *SHAPES[name]) and yb.max() < CLASSES[name]


@pytest.mark.parametrize("name", ALL)
def test_missing_files_one_line(name: str, tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        nas.data.load(name, root=str(tmp_path / "nowhere"))
    _one_line(err, name, repr(str(tmp_path / "nowhere")), "download=true")


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_download_failure_one_line(name: str, tmp_path: Path, monkeypatch) -> None:
    """Offline even where CI has internet: every URL open fails as it does without a network."""

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network (test)")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as err:
        nas.data.load(name, root=str(tmp_path), download=True)
    _one_line(err, name, "download failed", repr(str(tmp_path)))


def test_cifar_md5_checked_by_default(write_files) -> None:
    root, _ = write_files("cifar10")
    with pytest.raises(DataError) as err:
        nas.data.cifar10(root=str(root))
    _one_line(err, "cifar10", "md5", "verify_checksums=false")


def test_truncated_file_is_a_data_error(write_files) -> None:
    root, _ = write_files("mnist")
    path = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError) as err:
        nas.data.mnist(root=str(root))
    _one_line(err, "mnist", "could not be read")


def test_augment_train_only_and_val_from_train(write_files) -> None:
    root, _ = write_files("cifar10")
    plain = nas.data.cifar10(**_kw("cifar10", root))
    aug = nas.data.cifar10(**_kw("cifar10", root, augment=True))
    for split in ("val", "test"):  # never augmented
        torch.testing.assert_close(_all(getattr(plain, split)), _all(getattr(aug, split)))
    torch.manual_seed(0)  # the crops and flips draw from torch's global generator
    x_aug, y_aug = _all(aug.train)
    x_plain, y_plain = _all(plain.train)
    assert torch.equal(y_aug, y_plain)  # same seeded order
    assert not torch.equal(x_aug, x_plain)
    # val examples are train-file examples, not test ones
    val_x = _all(plain.val)[0]
    test_x = _all(plain.test)[0]
    assert not any(torch.equal(v, t) for v in val_x for t in test_x)


def test_subset_caps_train_and_test(write_files) -> None:
    root, _ = write_files("fashion_mnist")
    data = nas.data.fashion_mnist(**_kw("fashion_mnist", root, subset=30))
    assert data.sizes() == {"train": 27, "val": 3, "test": 20}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"subset": 0}, "subset"), ({"root": 3}, "root"), ({"batch_size": 0}, "batch_size")],
)
def test_bad_vision_arguments(kwargs: dict, field: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=field) as err:
        nas.data.mnist(**{"root": str(tmp_path), **kwargs})
    assert not isinstance(err.value, DataError)
    _one_line(err, field)
