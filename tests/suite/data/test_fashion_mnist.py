"""Fashion-MNIST from IDX files: fakes in tmp_path, and the Debian package when installed."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from data_fakes import write_fashion_idx, write_idx

from suite.data import create_dataset
from suite.data.fashion_mnist import DEBIAN_ROOT, FashionMNISTOptions
from suite.errors import DataError


def fmnist(root, cache_dir, **kw):
    return create_dataset("fashion_mnist", FashionMNISTOptions(root=str(root), cache_dir=str(cache_dir),
                                                               **kw))


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files(tmp_path, cache_dir, gz):
    written = write_fashion_idx(tmp_path / "fm", gz=gz)
    ds = fmnist(tmp_path / "fm", cache_dir)
    train, test = ds.load("train"), ds.load("test")
    assert train.images.shape == (5, 1, 28, 28) and test.images.shape == (3, 1, 28, 28)
    assert np.array_equal(train.images[:, 0].numpy(), written["train"][0])
    assert test.labels.tolist() == [0, 1, 2]
    info = ds.info()
    assert info.image_shape == (1, 28, 28) and info.num_classes == 10 and info.augment == "none"


def test_torchvision_raw_layout(tmp_path, cache_dir):
    write_fashion_idx(tmp_path / "root" / "FashionMNIST" / "raw")
    assert len(fmnist(tmp_path / "root", cache_dir).load("train")) == 5


def test_missing_files_message(tmp_path, cache_dir):
    write_fashion_idx(tmp_path / "fm")
    (tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        fmnist(tmp_path / "fm", cache_dir).load("train")
    assert "t10k-labels-idx1-ubyte[.gz]" in str(err.value)
    assert str(tmp_path / "fm" / "FashionMNIST" / "raw") in str(err.value)


def test_bad_idx(tmp_path, cache_dir):
    write_fashion_idx(tmp_path / "fm")
    (tmp_path / "fm" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x03"))
    with pytest.raises(DataError, match="not an IDX file of unsigned bytes"):
        fmnist(tmp_path / "fm", cache_dir).load("train")
    write_idx(tmp_path / "fm" / "train-images-idx3-ubyte.gz", np.zeros((5, 27, 28), np.uint8))
    with pytest.raises(DataError, match="expected N x 28 x 28"):
        fmnist(tmp_path / "fm", cache_dir).load("train")


def test_default_root_includes_the_debian_folder():
    roots = create_dataset("fashion_mnist").roots()
    assert roots[-1] == DEBIAN_ROOT and len(roots) == 2


@pytest.mark.skipif(not (DEBIAN_ROOT / "train-images-idx3-ubyte.gz").exists(),
                    reason="apt-get install dataset-fashion-mnist to run this")
def test_debian_package_files(cache_dir: Path):
    ds = create_dataset("fashion_mnist", FashionMNISTOptions(cache_dir=str(cache_dir)))
    train, test = ds.load("train"), ds.load("test")
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.labels.bincount().tolist() == [6000] * 10
    mean = train.images.float().mean().item() / 255
    assert abs(mean - ds.info().mean[0]) < 1e-3
