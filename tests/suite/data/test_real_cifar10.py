"""The CIFAR-10 JPEG copy shipped next to the repository (../shared/data), when present.

Decoding all 60,000 JPEGs once takes about 8 s on two cores; the second load comes
from the tensor cache.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from suite.data import create_dataset
from suite.data.cifar import Cifar
from suite.data.files import AugmentOptions

ARCHIVE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.mark.skipif(not ARCHIVE.exists(), reason=f"{ARCHIVE} not present")
def test_cifar10_jpeg_copy(tmp_path, monkeypatch):
    options = AugmentOptions(root=str(ARCHIVE), cache_dir=str(tmp_path / "cache"))
    ds = create_dataset("cifar10", options)
    train, test = ds.load("train"), ds.load("test")
    assert train.images.shape == (50000, 3, 32, 32) and test.images.shape == (10000, 3, 32, 32)
    assert train.labels.bincount().tolist() == [5000] * 10
    assert test.labels.bincount().tolist() == [1000] * 10
    assert ds.decoded().classes == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                    "horse", "ship", "truck")
    mean = train.images.float().mean(dim=(0, 2, 3)) / 255
    for got, want in zip(mean.tolist(), ds.info().mean, strict=True):
        assert abs(got - want) < 2e-3  # JPEG copy: close to the original's statistics

    def no_decoding(self, path):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(Cifar, "_decode_archive", no_decoding)
    again = create_dataset("cifar10", options)
    assert again.load("train").images.equal(train.images)
    shutil.rmtree(tmp_path / "cache")  # 184 MB; pytest keeps recent tmp folders
