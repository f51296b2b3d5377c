"""The value every data factory returns, and the error for missing data files."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import DataLoader


class DataError(ValueError):
    """Data files are missing, unreadable or failed their checksum.

    The message is one line naming the data set, the root and how to get the files.
    """


@dataclass
class DataBundle:
    """Train / val / test loaders of one data set plus what a model needs to know about it.

    Attributes:
        name: Data set name, as in ``nas.data.DATASETS``.
        train: Shuffled training loader. ``train.generator`` is the seeded generator that drives
            the shuffling; call ``train.generator.manual_seed(s)`` to replay an order.
        val: Carved from the train split with a fixed seed, not shuffled, never augmented. Used
            for search and model selection.
        test: The data set's own test split (digits: carved with the seed). Read only to report
            a final model.
        input_shape: Shape of one example, channels first, e.g. ``(1, 40)`` or ``(3, 32, 32)``.
        num_classes: Number of classes; labels are ``int64`` in ``[0, num_classes)``.
    """

    name: str
    train: DataLoader
    val: DataLoader
    test: DataLoader
    input_shape: tuple[int, ...]
    num_classes: int

    def sizes(self) -> dict[str, int]:
        """Number of examples in each split, e.g. ``{"train": 3240, "val": 360, "test": 800}``."""
        return {
            split: len(getattr(self, split).dataset)  # type: ignore[arg-type]
            for split in ("train", "val", "test")
        }
