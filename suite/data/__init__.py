"""The dataset registry and the protocol every dataset plugin follows.

A plugin is a subclass of :class:`Dataset` registered with ``@DATASETS.register(name)``.
It knows its :class:`DatasetInfo` and loads a split as a :class:`TensorSplit`
(uint8 images N x C x H x W plus int64 labels) that the in-memory pipeline batches,
augments and normalizes on the training device. Options come from the spec's
``[dataset.<name>]`` table; fields marked ``identity=False`` (paths) are not part of
a cell's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from suite.data.info import DatasetInfo
from suite.options import NoOptions
from suite.registry import Registry

Split = Literal["train", "test"]


@dataclass(frozen=True)
class TensorSplit:
    """A whole split in memory: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class Dataset:
    """Base class of dataset plugins. Subclasses set ``Options`` and implement two methods."""

    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    def info(self) -> DatasetInfo:
        """Classes, image shape, normalization and augmentation of this dataset."""
        raise NotImplementedError

    def load(self, split: Split) -> TensorSplit:
        """The whole ``split`` as uint8 tensors; raise DataError if it cannot be found."""
        raise NotImplementedError


DATASETS: Registry[type[Dataset]] = Registry("dataset")


def create_dataset(name: str, options: Any = None) -> Dataset:
    """Instantiate dataset plugin ``name`` with its options."""
    return DATASETS.get(name)(options)


from suite.data import small  # noqa: E402,F401  (built-in datasets register on import)
