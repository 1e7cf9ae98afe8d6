"""The validation set a recipe's ``val_fraction`` holds out of the training split.

The rule, exactly: with ``n`` training images, ``k = floor(val_fraction * n + 0.5)``
of them (at least 1, at most ``n - 1``) are held out;
``perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + VAL_SEED_OFFSET))``
on the CPU, the run's ``seed``, and the validation set is ``perm[:k]`` and the training
set ``perm[k:]``, each sorted by index. The split depends on the run's seed (each seed
of a cell holds out its own images), on ``n`` and on the fraction only, so it is the same
on every host, rank and resume. The validation images are never trained on; they are
read with the test-time transforms (no augmentation). The test split is never used to
choose anything.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import torch

from suite.errors import SpecError

#: Added to the run's seed for the split's generator, so that the permutation is not
#: the one the same seed draws elsewhere (torch's global generator initializes models).
VAL_SEED_OFFSET = 7_919_000_011


@dataclass(frozen=True)
class Holdout:
    """A training split cut in two: ``train`` and ``val`` hold sorted indices into it."""

    fraction: float
    seed: int
    total: int
    train: torch.Tensor
    val: torch.Tensor

    def checksum(self) -> int:
        """A CRC-32 of the validation indices (int64, little-endian), to tell splits apart."""
        return zlib.crc32(self.val.numpy().astype("<i8").tobytes())

    def record(self) -> dict[str, Any]:
        """The split as the result record keeps it (``record["validation"]``)."""
        return {"fraction": self.fraction, "images": int(self.val.numel()),
                "train_images": int(self.train.numel()), "split_images": self.total,
                "seed": self.seed, "generator_seed": self.seed + VAL_SEED_OFFSET,
                "indices_crc32": self.checksum()}


def holdout(total: int, fraction: float, seed: int) -> Holdout:
    """Hold out ``fraction`` of ``total`` training images for run seed ``seed``
    (the module's rule); a split too small to leave images on both sides is an error."""
    if total < 2:
        raise SpecError(f"[train] val_fraction = {fraction} needs a training split of at least 2 "
                        f"images (one to hold out, one to train on); this one has {total}")
    k = min(max(int(math.floor(fraction * total + 0.5)), 1), total - 1)
    gen = torch.Generator().manual_seed(seed + VAL_SEED_OFFSET)
    perm = torch.randperm(total, generator=gen)
    return Holdout(fraction, seed, total, perm[k:].sort().values, perm[:k].sort().values)

