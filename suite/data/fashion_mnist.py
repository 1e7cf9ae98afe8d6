"""Fashion-MNIST (Xiao et al. 2017): 28x28 greyscale clothing images, 10 classes,
60,000 train and 10,000 test.

Reads the original IDX files by their standard names (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
each optionally ``.gz``) from the root, or from torchvision's ``<root>/FashionMNIST/raw``.
With no ``root`` option it searches ``$SUITE_DATA/fashion_mnist`` (or
``./data/fashion_mnist``) and then the Debian/Ubuntu package's folder
``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``).
No augmentation by default (``augment = "crop_flip"`` pads by 4 and flips).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from suite.data.base import DATASETS
from suite.data.cache import Decoded
from suite.data.files import FileDataset, FileOptions, Searched, Source
from suite.data.info import DatasetInfo, DataShape
from suite.data.readers import read_idx
from suite.data.split import TensorSplit
from suite.errors import DataError

#: Where ``apt-get install dataset-fashion-mnist`` puts the files.
DEBIAN_ROOT = Path("/usr/share/datasets/fashion-mnist")
STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")


@dataclass(frozen=True)
class FashionMNISTOptions(FileOptions):
    """File options plus the training augmentation (none by default)."""

    augment: Literal["none", "crop_flip"] = "none"


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


@DATASETS.register("fashion_mnist")
class FashionMNIST(FileDataset):
    """Fashion-MNIST from its IDX files (28x28 greyscale, 10 classes)."""

    label = "Fashion-MNIST"
    shape = DataShape(10, (1, 28, 28), 60_000, 10_000)

    name = "fashion_mnist"
    Options = FashionMNISTOptions

    def known_classes(self) -> int:
        return 10

    def info(self) -> DatasetInfo:
        return DatasetInfo(10, (1, 28, 28), (0.2860,), (0.3530,), augment=self.options.augment,
                           crop_padding=4, label="Fashion-MNIST")

    def roots(self) -> list[Path]:
        return super().roots() + ([] if self.options.root else [DEBIAN_ROOT])

    def find_source(self, roots: list[Path], searched: Searched) -> Source | None:
        stems = [s for pair in STEMS.values() for s in pair]
        for root in roots:
            for folder in (root, root / "FashionMNIST" / "raw"):
                searched.add("IDX files " + ", ".join(f"{s}[.gz]" for s in stems), folder)
                found = [_find(folder, s) for s in stems]
                if all(found):
                    paths = tuple(p for p in found if p is not None)
                    return Source("idx", folder, paths, lambda paths=paths: self._decode(paths))
        return None

    def _decode(self, paths: tuple[Path, ...]) -> Decoded:
        splits = []
        for i in range(2):
            images, labels = read_idx(paths[2 * i]), read_idx(paths[2 * i + 1])
            if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 \
                    or len(images) != len(labels):
                raise DataError(f"{paths[2 * i]} and {paths[2 * i + 1]}: expected N x 28 x 28 images "
                                f"and N labels, found {images.shape} and {labels.shape}")
            if len(labels) and int(labels.max()) >= len(CLASSES):
                raise DataError(f"{paths[2 * i + 1]}: labels outside 0..{len(CLASSES) - 1}")
            splits.append(TensorSplit(torch.from_numpy(images.copy()).unsqueeze(1),
                                      torch.from_numpy(labels.astype("int64"))))
        return Decoded(CLASSES, *splits)

    def download(self, root: Path) -> None:
        import torchvision.datasets as tvd

        try:
            tvd.FashionMNIST(str(root), train=True, download=True)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"downloading Fashion-MNIST into {root} failed: {exc}. Without network "
                            f"access, apt-get install dataset-fashion-mnist (or copy the IDX files "
                            f"into {root}) and set download = false") from exc
