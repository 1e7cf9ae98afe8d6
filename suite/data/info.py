"""What a model and the input pipeline need to know about a dataset."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    """Classes, image shape (C, H, W), per-channel normalization and augmentation kind.

    ``augment`` names an entry of :data:`suite.data.pipeline.AUGMENTATIONS`
    ("none", or "crop_flip" for CIFAR-style pad-and-crop plus horizontal flips).
    """

    num_classes: int
    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str = "none"
    crop_padding: int = 4
    label: str = ""


@dataclass(frozen=True)
class DataShape:
    """A dataset's size when it is known without reading it: classes, image shape (C, H,
    W), split sizes. Dataset plugins declare it (``Dataset.shape``); the cost estimate of
    ``suite plan --summary`` reads it."""

    num_classes: int
    image_shape: tuple[int, int, int]
    train_images: int
    test_images: int
