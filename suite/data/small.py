"""Datasets that need no download: scikit-learn's digits and a synthetic task."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from suite.data.base import DATASETS, Dataset
from suite.data.info import DatasetInfo, DataShape
from suite.data.split import Split, TensorSplit


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images.float().div_(255)
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())


@DATASETS.register("digits")
class Digits(Dataset):
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), shipped in its wheel.

    The fixed split holds out 20% (360 images, stratified by a fixed permutation) as the
    test set; it does not depend on the run's seed.
    """

    shape = DataShape(10, (1, 8, 8), 1_437, 360)

    test_fraction = 0.2

    def _all(self) -> tuple[torch.Tensor, torch.Tensor]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = torch.as_tensor(bunch.images, dtype=torch.float32)  # values 0..16
        images = (images * (255 / 16)).round().clamp(0, 255).to(torch.uint8).unsqueeze(1)
        return images, torch.as_tensor(bunch.target, dtype=torch.int64)

    def _split(self, split: Split) -> TensorSplit:
        images, labels = self._all()
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(20200101))
        n_test = int(round(len(labels) * self.test_fraction))
        idx = order[:n_test] if split == "test" else order[n_test:]
        return TensorSplit(images[idx].contiguous(), labels[idx].contiguous())

    def known_classes(self) -> int:
        return 10

    def info(self) -> DatasetInfo:
        mean, std = _channel_stats(self._split("train").images)
        return DatasetInfo(10, (1, 8, 8), mean, std, augment="none", label="digits (8x8)")

    def load(self, split: Split) -> TensorSplit:
        return self._split(split)


@dataclass(frozen=True)
class SyntheticOptions:
    """``[dataset.synthetic]``: shape and size of a random, learnable task."""

    num_classes: int = 10
    channels: int = 1
    image_size: int = 8
    train_size: int = 512
    test_size: int = 256
    noise: float = 0.5

    def validate(self) -> str | None:
        for key in ("num_classes", "channels", "image_size", "train_size", "test_size"):
            if getattr(self, key) <= 0:
                return f"{key} = {getattr(self, key)} must be a positive integer"
        if self.num_classes < 2:
            return f"num_classes = {self.num_classes} must be at least 2"
        if self.noise < 0:
            return f"noise = {self.noise} must be >= 0"
        return None


@DATASETS.register("synthetic")
class Synthetic(Dataset):
    """Random class prototypes plus Gaussian noise, quantized to uint8; any shape.

    Fixed by its options alone (not by the run's seed), so two runs see the same data.
    """

    Options = SyntheticOptions

    def known_classes(self) -> int:
        return self.options.num_classes

    def info(self) -> DatasetInfo:
        o = self.options
        shape = (o.channels, o.image_size, o.image_size)
        return DatasetInfo(o.num_classes, shape, (0.5,) * o.channels, (0.25,) * o.channels,
                           label=f"synthetic {o.channels}x{o.image_size}x{o.image_size}")

    def load(self, split: Split) -> TensorSplit:
        o = self.options
        gen = torch.Generator().manual_seed(1234)
        shape = (o.channels, o.image_size, o.image_size)
        prototypes = torch.rand((o.num_classes, *shape), generator=gen)
        n = o.train_size if split == "train" else o.test_size
        gen.manual_seed(1 if split == "train" else 2)
        labels = torch.randint(0, o.num_classes, (n,), generator=gen)
        x = prototypes[labels] + o.noise * 0.25 * torch.randn((n, *shape), generator=gen)
        images = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        return TensorSplit(images, labels)
