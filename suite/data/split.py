"""What a dataset hands the trainer: a whole split in memory, or a loader of batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

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
