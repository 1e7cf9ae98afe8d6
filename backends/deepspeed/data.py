"""Each rank's share of the data: a distributed sampler over the torch backend's batches.

Global batch ``k`` of epoch ``e`` is the torch backend's (same (seed, epoch) order and
augmentation); rank ``r`` of ``W`` trains on its elements ``r, r + W, ...``, so the ranks
together see exactly that batch. Two ways to get there:

- :class:`RankShards`, when the dataset's ``loader`` accepts ``rank`` and ``world`` (the
  streaming pipeline's sampler works this way): each rank decodes only its share.
- :class:`RankSlices` otherwise: each rank draws the whole global batch and keeps its
  slice. Exact for any loader, at the price of preparing every batch ``W`` times, which
  is cheap for in-memory datasets (augmentation on the device) but not for decoding
  JPEGs.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Iterator
from typing import Any

import torch

from suite.data.holdout import Holdout

Batch = tuple[torch.Tensor, torch.Tensor]


class RankSlices:
    """Rank ``rank``'s slice of each batch of a loader that yields global batches."""

    def __init__(self, loader: Any, rank: int, world: int) -> None:
        self.loader, self.rank, self.world = loader, rank, world

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def num_samples(self) -> int:
        return self.loader.num_samples

    def epoch(self, epoch: int) -> Iterator[Batch]:
        for x, y in self.loader.epoch(epoch):
            yield x[self.rank::self.world], y[self.rank::self.world]


class RankShards:
    """A loader that yields this rank's shards itself, cut to the global step count
    (a rank may hold one element more than another, never a batch fewer)."""

    def __init__(self, loader: Any, steps: int, num_samples: int) -> None:
        self.loader, self.steps, self.samples = loader, steps, num_samples

    def __len__(self) -> int:
        return self.steps

    @property
    def num_samples(self) -> int:
        return self.samples

    def epoch(self, epoch: int) -> Iterator[Batch]:
        return itertools.islice(self.loader.epoch(epoch), self.steps)


def shards_natively(dataset: Any) -> bool:
    """Whether ``dataset.loader`` takes ``rank`` and ``world`` keywords."""
    params = inspect.signature(dataset.loader).parameters
    return "rank" in params and "world" in params


def rank_loaders(dataset: Any, global_train: Any, global_test: Any, *, rank_batch: int,
                 test_batch: int, seed: int, device: torch.device, channels_last: bool,
                 rank: int, world: int, holdout: Holdout | None = None) -> tuple[Any, Any]:
    """This rank's train and test loaders, given the global ones the trainer built
    (``holdout``: the validation split the global training loader leaves out)."""
    if not shards_natively(dataset):
        return RankSlices(global_train, rank, world), RankSlices(global_test, rank, world)
    kw = {"seed": seed, "device": device, "channels_last": channels_last, "rank": rank, "world": world}
    subset = {"indices": holdout.train} if holdout is not None else {}
    train = dataset.loader("train", rank_batch, train=True, **kw, **subset)
    test = dataset.loader("test", max(1, -(-test_batch // world)), train=False, **kw)
    if len(train) < len(global_train):
        raise ValueError(f"rank {rank} of {world} has {len(train)} training batches per epoch, fewer "
                         f"than the global {len(global_train)}: {type(dataset).__name__}.loader "
                         "must give rank r the elements r, r + world, ... of the epoch's order")
    return RankShards(train, len(global_train), global_train.num_samples), test


def rank_val_loader(dataset: Any, global_val: Any, holdout: Holdout | None, *, test_batch: int,
                    seed: int, device: torch.device, channels_last: bool, rank: int,
                    world: int) -> Any:
    """This rank's share of the validation set (None without one), cut like the test set:
    each rank scores its elements and the sums are added over ranks."""
    if holdout is None:
        return None
    if not shards_natively(dataset):
        return RankSlices(global_val, rank, world)
    return dataset.loader("train", max(1, -(-test_batch // world)), train=False, seed=seed,
                          device=device, channels_last=channels_last, rank=rank, world=world,
                          indices=holdout.val)
