"""ImageNet (ILSVRC-2012): 1,000 classes, 1.28M train and 50,000 validation images,
streamed from disk.

Layout: ``<root>/train/<wnid>/*.JPEG`` and ``<root>/val/<wnid>/*.JPEG`` (the standard
folders after sorting the validation images into class folders). The "test" split is
``val/``. Training crops with RandomResizedCrop(224) and a horizontal flip; evaluation
resizes the shorter side to 256 and takes the central 224 square. Images are decoded
by DataLoader workers (:mod:`suite.data.streaming`), not held in memory; ``load`` is
therefore not available.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from suite.data.base import DATASETS, Dataset
from suite.data.files import Searched, _path, data_base
from suite.data.info import DatasetInfo, DataShape
from suite.data.readers import is_image
from suite.data.split import Loader, Split, TensorSplit
from suite.data.streaming import FileSamples, StreamingLoader, eval_transform, train_transform
from suite.errors import DataError

FOLDERS = {"train": "train", "test": "val"}


@dataclass(frozen=True)
class ImageNetOptions:
    """``[dataset.imagenet]``.

    ``root``: the folder holding ``train/`` and ``val/`` (empty: ``$SUITE_DATA/imagenet``
    or ``./data/imagenet``). ``workers``: decoding processes (0 decodes in the training
    process). ``image_size``, ``eval_resize`` and ``min_scale`` set the crops
    (RandomResizedCrop's smallest area fraction).
    """

    root: str = field(default="", metadata={"identity": False})
    workers: int = field(default=8, metadata={"identity": False})
    image_size: int = 224
    eval_resize: int = 256
    min_scale: float = 0.08

    def validate(self) -> str | None:
        if self.workers < 0:
            return f"workers = {self.workers} must be >= 0"
        if self.image_size <= 0 or self.eval_resize < self.image_size:
            return (f"image_size = {self.image_size} must be positive and eval_resize = "
                    f"{self.eval_resize} at least as large")
        if not 0.0 < self.min_scale <= 1.0:
            return f"min_scale = {self.min_scale} must lie in (0, 1]"
        return None


@DATASETS.register("imagenet")
class ImageNet(Dataset):
    """ImageNet from class folders, decoded on the fly by DataLoader workers."""

    label = "ImageNet"
    shape = DataShape(1000, (3, 224, 224), 1_281_167, 50_000)

    Options = ImageNetOptions
    name = "imagenet"

    def root(self) -> Path:
        return _path(self.options.root) if self.options.root else data_base() / self.name

    def check(self) -> None:
        self._check_layout()

    def _check_layout(self) -> Path:
        root = self.root()
        searched = Searched(self.name)
        searched.add("class folders train/<wnid>/*.JPEG and val/<wnid>/*.JPEG", root)
        if not all((root / f).is_dir() for f in FOLDERS.values()):
            raise searched.error()
        val = root / FOLDERS["test"]
        if not any(p.is_dir() for p in val.iterdir()):
            raise DataError(f"{val} holds no class folders: sort the validation images into "
                            f"val/<wnid>/ (the usual valprep step) so they carry labels")
        return root

    def classes(self) -> list[str]:
        root = self._check_layout()
        return sorted(e.name for e in os.scandir(root / FOLDERS["train"]) if e.is_dir())

    def info(self) -> DatasetInfo:
        o = self.options
        return DatasetInfo(len(self.classes()), (3, o.image_size, o.image_size),
                           (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), augment="none",
                           label="ImageNet (ILSVRC-2012)")

    def samples(self, split: Split) -> list[tuple[Path, int]]:
        """(path, label) of every image of ``split``, sorted by class then file name."""
        classes = self.classes()
        base = self.root() / FOLDERS[split]
        out: list[tuple[Path, int]] = []
        for label, wnid in enumerate(classes):
            folder = base / wnid
            if not folder.is_dir():
                continue
            names = sorted(e.name for e in os.scandir(folder) if e.is_file() and is_image(e.name))
            out += [(folder / n, label) for n in names]
        if not out:
            raise DataError(f"no images under {base}/<class>/")
        return out

    def provenance(self) -> dict[str, Any]:
        return {"layout": "class folders", "root": str(self.root().resolve())}

    def size(self, split: Split) -> int:
        return len(self.samples(split))

    def load(self, split: Split) -> TensorSplit:
        raise DataError("imagenet is streamed from disk and has no in-memory split; "
                        "use Dataset.loader()")

    def loader(self, split: Split, batch_size: int, *, train: bool, seed: int = 0,
               device: torch.device | str = "cpu", channels_last: bool = False,
               rank: int = 0, world: int = 1, indices: torch.Tensor | None = None) -> Loader:
        """Streams ``split``; with ``rank``/``world`` (data parallelism) this rank decodes
        only elements rank, rank + world, ... of the epoch's order. ``indices`` keeps only
        those images of the split (sorted by class and file name), in that order."""
        o = self.options
        transform = (train_transform(o.image_size, o.min_scale) if train
                     else eval_transform(o.image_size, o.eval_resize))
        files = self.samples(split)
        if indices is not None:
            files = [files[i] for i in indices.tolist()]
        samples = FileSamples(files, transform, train)
        return StreamingLoader(samples, self.info(), batch_size, train=train, seed=seed,
                               device=device, channels_last=channels_last, workers=o.workers,
                               rank=rank, world=world)
