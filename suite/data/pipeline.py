"""The in-memory input pipeline: whole splits on the device, batched augmentation.

Shuffling and augmentation draw from generators seeded by (seed, epoch), so an epoch's
batches are the same whether a run starts fresh or resumes at that epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from suite.data.info import DatasetInfo
from suite.data.split import TensorSplit

Augment = Callable[[torch.Tensor, torch.Generator, DatasetInfo], torch.Tensor]


def _no_augment(x: torch.Tensor, gen: torch.Generator, info: DatasetInfo) -> torch.Tensor:
    return x


def crop_flip(x: torch.Tensor, gen: torch.Generator, info: DatasetInfo) -> torch.Tensor:
    """Pad by ``info.crop_padding`` (zeros), take a random crop of the original size
    and flip half of the images horizontally, for a whole uint8 batch at once."""
    n, _, h, w = x.shape
    pad = info.crop_padding
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # n x h
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # n x w
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n, device=x.device)[:, None, None, None]
    idx_c = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[idx_n, idx_c, rows[:, None, :, None], cols[:, None, None, :]]


#: Batched augmentations by the name a DatasetInfo gives.
AUGMENTATIONS: dict[str, Augment] = {"none": _no_augment, "crop_flip": crop_flip}


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator that orders and augments epoch ``epoch`` of a run with ``seed``."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class InMemoryLoader:
    """Batches of normalized float images from a :class:`TensorSplit` held on ``device``."""

    def __init__(self, split: TensorSplit, info: DatasetInfo, batch_size: int, *, train: bool,
                 seed: int = 0, device: torch.device | str = "cpu",
                 channels_last: bool = False) -> None:
        self.info = info
        self.batch_size = batch_size
        self.train = train
        self.seed = seed
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.images = split.images.to(self.device)
        self.labels = split.labels.to(self.device)
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(info.mean, device=self.device).view(shape) * 255
        self.std = torch.tensor(info.std, device=self.device).view(shape) * 255
        self.augment = AUGMENTATIONS[info.augment] if train else _no_augment
        # Training drops the last partial batch (batch norm and a constant step count);
        # a split smaller than one batch is used whole.
        n = len(self.labels)
        self.drop_last = train and n >= batch_size

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.labels)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the batches of epoch ``epoch`` (shuffled and augmented when training)."""
        gen = epoch_generator(self.seed, epoch)
        n = len(self.labels)
        order = torch.randperm(n, generator=gen).to(self.device) if self.train else None
        for b in range(len(self)):
            sl = slice(b * self.batch_size, min((b + 1) * self.batch_size, n))
            idx = order[sl] if order is not None else None
            x = self.images[idx] if idx is not None else self.images[sl]
            y = self.labels[idx] if idx is not None else self.labels[sl]
            x = self.augment(x, gen, self.info)
            x = (x.float() - self.mean) / self.std
            if self.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y
