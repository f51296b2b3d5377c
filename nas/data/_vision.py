"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 read by torchvision's own dataset classes.

Checksums: torchvision checks MNIST files for presence only, but compares every CIFAR file with
the md5 of the official release, so a CIFAR folder holding anything else (a re-packed subset, the
small files our tests write) is rejected as "corrupted". ``verify_checksums=True`` (the default)
keeps torchvision's check as is; ``False`` reads the files with the same torchvision code minus the
md5 comparison (the files must still exist and parse). Downloads always check the archive's md5.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nas.data.bundle import DataBundle, DataError
from nas.data.loaders import (
    LoaderOptions,
    TransformedSubset,
    check_int,
    dataset_loader,
    split_indices,
    subsample,
)


@dataclass(frozen=True)
class _Spec:
    tv_class: str  # class name in torchvision.datasets
    input_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]  # per-channel statistics of the train split
    std: tuple[float, ...]
    crop_padding: int  # augmentation: random crop of the full size after this much padding
    flip: bool  # augmentation: random horizontal flip
    md5: bool  # torchvision compares the files with the official md5 (not only presence)


_SPECS = {  # name: class, input shape, classes, mean, std, crop padding, flip, md5 checked
    "mnist": _Spec("MNIST", (1, 28, 28), 10, (0.1307,), (0.3081,), 2, False, False),
    "fashion_mnist": _Spec("FashionMNIST", (1, 28, 28), 10, (0.2860,), (0.3530,), 2, True, False),
    "cifar10": _Spec("CIFAR10", (3, 32, 32), 10, (0.4914, 0.4822, 0.4465),
                     (0.2470, 0.2435, 0.2616), 4, True, True),
    "cifar100": _Spec("CIFAR100", (3, 32, 32), 100, (0.5071, 0.4865, 0.4409),
                      (0.2673, 0.2564, 0.2762), 4, True, True),
}  # fmt: skip


def expected_files(name: str, root: str) -> list[str]:
    """Paths torchvision reads for data set ``name`` under ``root`` (taken from its classes)."""
    cls = _tv_class(name, verify_checksums=True)
    if hasattr(cls, "resources"):  # MNIST family: raw/<archive name without .gz>
        folder = os.path.join(root, cls.__name__, "raw")
        names = [os.path.splitext(os.path.basename(url))[0] for url, _ in cls.resources]
    else:  # CIFAR family
        folder = os.path.join(root, cls.base_folder)
        names = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    return [os.path.join(folder, n) for n in names]


def _tv_class(name: str, verify_checksums: bool) -> Any:
    import torchvision.datasets as tvd

    cls = getattr(tvd, _SPECS[name].tv_class)
    if verify_checksums or not hasattr(cls, "train_list"):
        return cls
    # Same reader, md5 replaced by None: torchvision's check_integrity then tests existence only.
    return type(
        cls.__name__,
        (cls,),
        {
            "train_list": [[f, None] for f, _ in cls.train_list],
            "test_list": [[f, None] for f, _ in cls.test_list],
            "meta": {**cls.meta, "md5": None},
        },
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _open(name: str, root: str, download: bool, verify_checksums: bool) -> tuple[Any, Any]:
    """Load torchvision's train and test sets, turning every failure into a one-line DataError."""
    cls = _tv_class(name, verify_checksums)
    where = f"data: {name} under {root!r}"
    if download:
        try:
            cls(root, train=True, download=True)
        except Exception as err:  # network, disk or archive errors, all reported the same way
            raise DataError(
                f"{where}: download failed ({_first_line(err)}); retry on a machine with "
                "internet, or copy the files there and set download=false"
            ) from err
    missing = [p for p in expected_files(name, root) if not os.path.isfile(p)]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DataError(
            f"data: {name} not found under {root!r} (missing {missing[0]}{more}); run with "
            "data.download=true on a machine with internet, or copy the files there"
        )
    try:
        return cls(root, train=True), cls(root, train=False)
    except RuntimeError as err:
        if verify_checksums and "corrupted" in str(err):
            raise DataError(
                f"{where}: files failed torchvision's md5 check (not the official release?); "
                "delete them and download again, or set verify_checksums=false to read them as is"
            ) from err
        raise DataError(f"{where}: files could not be read ({_first_line(err)})") from err
    except Exception as err:  # truncated or foreign files: pickle, idx or shape errors
        raise DataError(f"{where}: files could not be read ({_first_line(err)})") from err


def _transforms(spec: _Spec, augment: bool) -> Any:
    import torch
    from torchvision.transforms import v2

    steps: list[Any] = [v2.ToImage()]
    if augment:
        steps.append(v2.RandomCrop(spec.input_shape[1:], padding=spec.crop_padding))
        if spec.flip:
            steps.append(v2.RandomHorizontalFlip())
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(spec.mean, spec.std)]
    return v2.Compose(steps)


def vision_bundle(
    name: str,
    *,
    root: str = "data",
    download: bool = False,
    augment: bool = False,
    subset: int | None = None,
    verify_checksums: bool = True,
    batch_size: int = 128,
    num_workers: int = 0,
    pin_memory: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> DataBundle:
    """The bundle of torchvision data set ``name`` (a key of ``_SPECS``).

    Images are scaled to [0, 1] and normalized with the train split's per-channel mean/std.

    Args:
        root: Folder holding the data set in torchvision's layout.
        download: Fetch the official files into ``root`` first when they are missing.
        augment: Random crop (after padding) and, where the set allows it, horizontal flip, on
            the train split only; val and test are never augmented.
        subset: Keep at most this many examples of the train split (before val is carved)
            and of the test split, drawn with ``seed``; None keeps all.
        verify_checksums: Let torchvision compare each file with the official md5 (CIFAR
            only; MNIST files are checked for presence); False reads files that differ
            (re-packed subsets, test fixtures). See the module docstring.
        batch_size, num_workers, pin_memory: Passed to the DataLoaders.
        val_fraction: Share of the train split held out as val (not augmented), in (0, 1).
        seed: Seeds the subset, the val split and the train shuffling.

    Raises:
        DataError: files missing (and download off or failed), unreadable or failing md5.
        ValueError: a bad argument (one line naming it).
    """
    spec = _SPECS[name]
    if not isinstance(root, str | os.PathLike):
        raise ValueError(f"data: root must be a folder path, got {root!r}")
    if subset is not None:
        check_int("subset", subset, 2)
    opts = LoaderOptions(batch_size, num_workers, pin_memory, val_fraction, seed)
    root = os.path.expanduser(os.fspath(root))
    train_set, test_set = _open(name, root, bool(download), bool(verify_checksums))

    train_pool = subsample(len(train_set), subset, seed + 2)
    n_pool = len(train_set) if train_pool is None else len(train_pool)
    train_pos, val_pos = split_indices(n_pool, val_fraction, seed)
    if train_pool is not None:
        train_pos, val_pos = train_pool[train_pos], train_pool[val_pos]
    plain = _transforms(spec, augment=False)
    train = TransformedSubset(train_set, train_pos, _transforms(spec, augment))
    val = TransformedSubset(train_set, val_pos, plain)
    test = TransformedSubset(test_set, subsample(len(test_set), subset, seed + 3), plain)
    return DataBundle(
        name=name,
        train=dataset_loader(train, opts, shuffle=True),
        val=dataset_loader(val, opts, shuffle=False),
        test=dataset_loader(test, opts, shuffle=False),
        input_shape=spec.input_shape,
        num_classes=spec.num_classes,
    )


def _factory(name: str, doc: str) -> Callable[..., DataBundle]:
    """The public factory of data set ``name``: :func:`vision_bundle` with the name bound.

    Its signature is ``vision_bundle``'s keyword arguments (without ``verify_checksums`` for
    sets torchvision checks for presence only), so Hydra configs, ``help()`` and bad keyword
    arguments behave as with a hand-written function.
    """
    params = [
        p
        for p in inspect.signature(vision_bundle).parameters.values()
        if p.name != "name" and (p.name != "verify_checksums" or _SPECS[name].md5)
    ]
    signature = inspect.Signature(params, return_annotation="DataBundle")

    def factory(**kwargs: Any) -> DataBundle:
        try:
            signature.bind(**kwargs)
        except TypeError as err:
            raise TypeError(f"{name}() {err}") from None
        return vision_bundle(name, **kwargs)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc
    factory.__signature__ = signature  # type: ignore[attr-defined]
    return factory


mnist = _factory(
    "mnist",
    """MNIST from ``root/MNIST/raw/*-ubyte``; input ``(1, 28, 28)``, 10 classes.

    Augmentation: random crop after 2-pixel padding (no flip: digits are not mirror-symmetric).
    Arguments as in :func:`vision_bundle` (torchvision checks MNIST files for presence only).
    """,
)
fashion_mnist = _factory(
    "fashion_mnist",
    """Fashion-MNIST from ``root/FashionMNIST/raw/*-ubyte``; input ``(1, 28, 28)``, 10 classes.

    Augmentation: random crop after 2-pixel padding and horizontal flip. Arguments as in
    :func:`vision_bundle`.
    """,
)
cifar10 = _factory(
    "cifar10",
    """CIFAR-10 from ``root/cifar-10-batches-py``; input ``(3, 32, 32)``, 10 classes.

    Augmentation: random crop after 4-pixel padding and horizontal flip. Arguments as in
    :func:`vision_bundle`.
    """,
)
cifar100 = _factory(
    "cifar100",
    """CIFAR-100 (fine labels) from ``root/cifar-100-python``; input ``(3, 32, 32)``, 100 classes.

    Augmentation as CIFAR-10's. Arguments as in :func:`vision_bundle`.
    """,
)
