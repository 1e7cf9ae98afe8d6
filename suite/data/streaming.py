"""The streaming input pipeline: images decoded from disk by DataLoader workers.

For datasets too large to hold in memory (ImageNet). Each sample's augmentation draws
from its own generator, seeded from the run's (seed, epoch) stream together with the
shuffle order, so an epoch's batches do not depend on the number of workers or on
which worker decodes what. Workers hand over uint8 batches (pinned when the device is
a GPU); the copy to the device is non-blocking and normalization (and channels_last)
happens on the device, which moves a quarter of the bytes a float pipeline would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset

from suite.data.info import DatasetInfo
from suite.data.pipeline import epoch_generator

#: transform(image, generator or None) -> uint8 tensor (C, H, W)
Transform = Callable[[object, "torch.Generator | None"], torch.Tensor]


class SeededSampler(Sampler[tuple[int, int]]):
    """Yields (index, sample seed) pairs for one epoch; shuffled when ``shuffle``.

    Call :meth:`set_epoch` before iterating. ``rank``/``world`` take every
    ``world``-th element of the epoch's order starting at ``rank`` (data parallelism).
    """

    def __init__(self, n: int, seed: int, *, shuffle: bool, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.shuffle, self.rank, self.world = n, seed, shuffle, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        gen = epoch_generator(self.seed, self.epoch)
        order = torch.randperm(self.n, generator=gen) if self.shuffle else torch.arange(self.n)
        seeds = torch.randint(0, 2**62, (self.n,), generator=gen)
        for k in range(self.rank, self.n, self.world):
            yield int(order[k]), int(seeds[k])


class FileSamples(TorchDataset):
    """Images from ``(path, label)`` pairs, opened with PIL and transformed."""

    def __init__(self, samples: list[tuple[Path, int]], transform: Transform, train: bool) -> None:
        self.samples, self.transform, self.train = samples, transform, train

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        from PIL import Image

        index, seed = key
        path, label = self.samples[index]
        with Image.open(path) as im:
            img = im.convert("RGB")
        gen = torch.Generator().manual_seed(seed) if self.train else None
        return self.transform(img, gen), label


def random_resized_crop_box(width: int, height: int, gen: torch.Generator,
                            scale: tuple[float, float] = (0.08, 1.0),
                            ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a random crop, torchvision's RandomResizedCrop rule
    with draws from ``gen``: 10 tries of a random area and aspect ratio, else a center
    crop with the ratio clamped."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        u = torch.rand(2, generator=gen).tolist()
        target = area * (scale[0] + u[0] * (scale[1] - scale[0]))
        aspect = math.exp(log_ratio[0] + u[1] * (log_ratio[1] - log_ratio[0]))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=gen))
            left = int(torch.randint(0, width - w + 1, (1,), generator=gen))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def train_transform(size: int, min_scale: float = 0.08) -> Transform:
    """RandomResizedCrop(size, scale=(min_scale, 1)) and a random horizontal flip."""

    def transform(img: object, gen: torch.Generator | None) -> torch.Tensor:
        import torchvision.transforms.v2.functional as TF

        assert gen is not None
        width, height = img.size  # type: ignore[attr-defined]
        top, left, h, w = random_resized_crop_box(width, height, gen, (min_scale, 1.0))
        img = TF.resized_crop(img, top, left, h, w, [size, size], antialias=True)
        if float(torch.rand(1, generator=gen)) < 0.5:
            img = TF.hflip(img)
        return TF.pil_to_tensor(img)

    return transform


def eval_transform(size: int, resize: int) -> Transform:
    """Resize the shorter side to ``resize``, then take the central ``size`` square."""

    def transform(img: object, gen: torch.Generator | None) -> torch.Tensor:
        import torchvision.transforms.v2.functional as TF

        img = TF.center_crop(TF.resize(img, [resize], antialias=True), [size, size])
        return TF.pil_to_tensor(img)

    return transform


class StreamingLoader:
    """Batches of normalized float images decoded by ``workers`` DataLoader processes."""

    def __init__(self, samples: TorchDataset, info: DatasetInfo, batch_size: int, *, train: bool,
                 seed: int = 0, device: torch.device | str = "cpu", channels_last: bool = False,
                 workers: int = 8, rank: int = 0, world: int = 1) -> None:
        self.info, self.batch_size, self.train = info, batch_size, train
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.sampler = SeededSampler(len(samples), seed, shuffle=train, rank=rank, world=world)  # type: ignore[arg-type]
        n = len(self.sampler)
        self.drop_last = train and n >= batch_size
        self.loader = DataLoader(
            samples, batch_size=batch_size, sampler=self.sampler, num_workers=workers,
            pin_memory=self.device.type == "cuda", drop_last=self.drop_last,
            persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None)
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(info.mean, device=self.device).view(shape) * 255
        self.std = torch.tensor(info.std, device=self.device).view(shape) * 255

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def num_samples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.sampler)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler.set_epoch(epoch)
        for x, y in self.loader:
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield (x.float() - self.mean) / self.std, y
