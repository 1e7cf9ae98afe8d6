"""The dataset plugin base class and the registry (see :mod:`suite.data` for the protocol):
a leaf module, so that the built-in datasets import it without importing their package."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from suite.data.info import DatasetInfo, DataShape
from suite.data.pipeline import InMemoryLoader
from suite.data.split import Loader, Split, TensorSplit
from suite.options import NoOptions
from suite.registry import Registry, subclass_check


class Dataset:
    """Base class of dataset plugins. Subclasses set ``Options`` and implement two methods."""

    Options: ClassVar[type] = NoOptions
    #: The name tables and figures print (``CIFAR-10``); ``[report.labels]`` overrides it.
    label: ClassVar[str] = ""
    #: Classes, image shape and split sizes, where they are fixed (the cost estimate).
    shape: ClassVar[DataShape | None] = None

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    def info(self) -> DatasetInfo:
        """Classes, image shape, normalization and augmentation of this dataset."""
        raise NotImplementedError

    def known_classes(self) -> int | None:
        """The number of classes when it is known without reading any file (spec checks
        use it, e.g. top-5 needs more than 10); None when only the data can tell."""
        return None

    def load(self, split: Split) -> TensorSplit:
        """The whole ``split`` as uint8 tensors; raise DataError if it cannot be found."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise DataError now if the data cannot be found, without reading it: a grid
        is checked before its first run, so that a missing root fails once, with nothing
        stored, instead of failing every cell. Generated or bundled data has nothing to
        check."""

    def provenance(self) -> dict[str, Any]:
        """Where the data came from, recorded with every result. Cell ids leave data paths
        out (the same cell may read a copy elsewhere), so this is what tells two sources of
        one dataset apart. Generated or bundled data has nothing to add."""
        return {"layout": "built-in"}

    def size(self, split: Split) -> int:
        """The number of images of ``split`` (the default loads it)."""
        return len(self.load(split))

    def loader(self, split: Split, batch_size: int, *, train: bool, seed: int = 0,
               device: torch.device | str = "cpu", channels_last: bool = False,
               indices: torch.Tensor | None = None) -> Loader:
        """Batches of ``split`` on ``device``: shuffled and augmented when ``train``.
        ``indices`` keeps only those elements of the split, in that order (a validation
        set held out of the training split, or what is left of it).

        The default holds the split in memory (:class:`~suite.data.pipeline.InMemoryLoader`).
        """
        data = self.load(split)
        if indices is not None:
            data = TensorSplit(data.images[indices].contiguous(), data.labels[indices].contiguous())
        return InMemoryLoader(data, self.info(), batch_size, train=train, seed=seed,
                              device=device, channels_last=channels_last)


DATASETS: Registry[type[Dataset]] = Registry("dataset", check=subclass_check(Dataset))


def create_dataset(name: str, options: Any = None) -> Dataset:
    """Instantiate dataset plugin ``name`` with its options."""
    return DATASETS.get(name)(options)
