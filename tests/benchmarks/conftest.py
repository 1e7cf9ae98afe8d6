"""Fixtures shared by the input-pipeline and training benchmarks."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

ARCHIVE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.fixture(scope="module")
def jpeg_tree(tmp_path_factory) -> Path:
    """The CIFAR-10 JPEG copy extracted as an ImageFolder tree (for torchvision's loaders)."""
    root = tmp_path_factory.mktemp("cifar10-jpeg")
    with tarfile.open(ARCHIVE) as tf:
        tf.extractall(root, filter="data")
    return root
