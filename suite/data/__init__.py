"""The dataset registry and the protocol every dataset plugin follows.

A plugin is a subclass of :class:`Dataset` registered with ``@DATASETS.register(name)``.
It knows its :class:`DatasetInfo` and loads a split as a :class:`TensorSplit`
(uint8 images N x C x H x W plus int64 labels) that the in-memory pipeline batches,
augments and normalizes on the training device. The trainer asks a dataset for a
:class:`Loader` with :meth:`Dataset.loader`; the default wraps ``load(split)`` in the
in-memory pipeline, and a dataset too large for memory (ImageNet) overrides it to
stream from disk. Options come from the spec's
``[dataset.<name>]`` table; fields marked ``identity=False`` (paths) are not part of
a cell's id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import torch

from suite.data.info import DatasetInfo, DataShape
from suite.options import NoOptions
from suite.registry import Registry, subclass_check

Split = Literal["train", "test"]


@dataclass(frozen=True)
class TensorSplit:
    """A whole split in memory: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class Loader(Protocol):
    """Batches of one split: normalized float images on the device, int64 labels.

    Epoch ``e`` is the same sequence of batches for the same seed whenever it is drawn
    (shuffling and augmentation come from (seed, epoch)), so resumed runs match.
    """

    def __len__(self) -> int:
        """Batches per epoch."""

    @property
    def num_samples(self) -> int:
        """Images per epoch (the dropped partial batch excluded)."""

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of epoch ``epoch``."""


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
        from suite.data.pipeline import InMemoryLoader

        data = self.load(split)
        if indices is not None:
            data = TensorSplit(data.images[indices].contiguous(), data.labels[indices].contiguous())
        return InMemoryLoader(data, self.info(), batch_size, train=train, seed=seed,
                              device=device, channels_last=channels_last)


DATASETS: Registry[type[Dataset]] = Registry("dataset", check=subclass_check(Dataset))


def create_dataset(name: str, options: Any = None) -> Dataset:
    """Instantiate dataset plugin ``name`` with its options."""
    return DATASETS.get(name)(options)


# Built-in datasets register themselves on import.
from suite.data import cifar, fashion_mnist, imagenet, small  # noqa: E402,F401
