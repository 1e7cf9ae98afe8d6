"""CIFAR-10/100: every accepted layout, built as a tiny fake in tmp_path, and the
messages for roots that hold none of them."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fakes import (
    CIFAR10_CLASSES,
    tar_folder,
    write_cifar10_pickles,
    write_cifar100_pickles,
    write_image_folder,
)

from suite.data import create_dataset
from suite.data.files import AugmentOptions
from suite.errors import DataError
from suite.options import identity_fields


def cifar10(root: Path | str, cache_dir: Path, **kw) -> object:
    return create_dataset("cifar10", AugmentOptions(root=str(root), cache_dir=str(cache_dir), **kw))


def check_pickles(ds, expected) -> None:
    train, test = ds.load("train"), ds.load("test")
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    assert np.array_equal(train.images.numpy(), expected["train_images"])
    assert np.array_equal(train.labels.numpy(), expected["train_labels"])
    assert np.array_equal(test.images.numpy(), expected["test_images"])
    assert ds.decoded().classes == CIFAR10_CLASSES


def test_torchvision_pickle_layout(tmp_path, cache_dir):
    expected = write_cifar10_pickles(tmp_path / "tv" / "cifar-10-batches-py")
    ds = cifar10(tmp_path / "tv", cache_dir)
    check_pickles(ds, expected)
    assert ds.source.layout == "pickles"


def test_pickles_directly_in_root(tmp_path, cache_dir):
    expected = write_cifar10_pickles(tmp_path / "batches")
    check_pickles(cifar10(tmp_path / "batches", cache_dir), expected)


def test_pickle_archive_read_in_place(tmp_path, cache_dir):
    expected = write_cifar10_pickles(tmp_path / "src" / "cifar-10-batches-py")
    archive = tar_folder(tmp_path / "src", tmp_path / "cifar-10-python.tar.gz")
    check_pickles(cifar10(archive, cache_dir), expected)
    # an archive found inside a folder root works too
    (tmp_path / "holder").mkdir()
    archive.rename(tmp_path / "holder" / archive.name)
    check_pickles(cifar10(tmp_path / "holder", cache_dir), expected)


def test_provenance_tells_two_sources_of_one_dataset_apart(tmp_path, cache_dir):
    write_cifar10_pickles(tmp_path / "a" / "cifar-10-batches-py")
    archive = tar_folder(tmp_path / "a", tmp_path / "cifar-10-python.tar.gz")
    unpacked, packed = cifar10(tmp_path / "a", cache_dir), cifar10(archive, cache_dir)
    first = unpacked.provenance()
    assert first == {"layout": "pickles", "root": str((tmp_path / "a" / "cifar-10-batches-py").resolve()),
                     "files": 7, "fingerprint": first["fingerprint"]}
    assert packed.provenance()["root"] == str(archive.resolve())
    assert packed.provenance()["fingerprint"] != first["fingerprint"]
    # the same files give the same fingerprint; rewriting one changes it
    assert cifar10(tmp_path / "a", cache_dir).provenance() == first
    write_cifar10_pickles(tmp_path / "a" / "cifar-10-batches-py", per_batch=5)
    assert cifar10(tmp_path / "a", cache_dir).provenance()["fingerprint"] != first["fingerprint"]


def test_image_folder_tree_is_lossless_for_png(tmp_path, cache_dir):
    written = write_image_folder(tmp_path / "tree")
    ds = cifar10(tmp_path / "tree", cache_dir)
    train, test = ds.load("train"), ds.load("test")
    assert ds.source.layout == "image folder"
    assert np.array_equal(train.images.numpy(), written["train"])
    assert np.array_equal(test.images.numpy(), written["test"])
    assert train.labels.tolist() == [c for c in range(10) for _ in range(2)]
    assert test.labels.tolist() == list(range(10))
    assert ds.decoded().classes == CIFAR10_CLASSES  # sorted folder names = CIFAR-10 order


@pytest.mark.parametrize("name,prefix", [("tree.tar.gz", ""), ("tree.tgz", "cifar10"),
                                         ("tree.tar", "a/b")])
def test_image_folder_archive(tmp_path, cache_dir, name, prefix):
    written = write_image_folder(tmp_path / "tree")
    archive = tar_folder(tmp_path / "tree", tmp_path / name, prefix=prefix)
    ds = cifar10(archive, cache_dir)
    assert np.array_equal(ds.load("train").images.numpy(), written["train"])
    assert np.array_equal(ds.load("test").images.numpy(), written["test"])
    assert ds.source.layout == "archive"


def test_jpeg_tree_decodes_close_to_source(tmp_path, cache_dir):
    written = write_image_folder(tmp_path / "tree", fmt="JPEG", per_class=(1, 1))
    got = cifar10(tmp_path / "tree", cache_dir).load("train").images.numpy().astype(int)
    assert got.shape == written["train"].shape
    # random noise compresses badly; only check that decoding is not garbage
    assert np.abs(got - written["train"].astype(int)).mean() < 60


def test_cifar100_pickles(tmp_path, cache_dir):
    write_cifar100_pickles(tmp_path / "c100" / "cifar-100-python")
    ds = create_dataset("cifar100", AugmentOptions(root=str(tmp_path / "c100"),
                                                   cache_dir=str(cache_dir)))
    assert ds.info().num_classes == 100
    assert ds.load("train").labels.tolist() == [(7 * i) % 100 for i in range(6)]
    assert len(ds.load("test")) == 6
    assert ds.decoded().classes[3] == "c03"


def test_missing_root_lists_layouts_and_places(tmp_path, cache_dir):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        cifar10(missing, cache_dir).load("train")
    msg = str(err.value)
    assert "cifar10" in msg and str(missing) in msg
    for layout in ("cifar-10-batches-py", "train/<class>", "test/<class>", ".tar.gz"):
        assert layout in msg
    assert "[dataset.cifar10] root" in msg and "download = true" in msg


def test_default_root_message_names_suite_data(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("SUITE_DATA", str(tmp_path / "base"))
    with pytest.raises(DataError) as err:
        create_dataset("cifar10").load("train")
    assert str(tmp_path / "base" / "cifar10") in str(err.value)
    assert str(tmp_path / "base" / "cifar-10-batches-py") in str(err.value)


def test_default_roots_under_suite_data(tmp_path, monkeypatch):
    base = tmp_path / "base"
    expected = write_cifar10_pickles(base / "cifar-10-batches-py")  # torchvision's own root
    monkeypatch.setenv("SUITE_DATA", str(base))
    check_pickles(create_dataset("cifar10"), expected)
    write_image_folder(base / "cifar10")  # <base>/<name> comes first
    ds = create_dataset("cifar10")
    assert ds.load("train").images.shape[0] == 20
    assert ds.source.layout == "image folder"


def test_wrong_class_count(tmp_path, cache_dir):
    write_image_folder(tmp_path / "tree", classes=("a", "b", "c"))
    with pytest.raises(DataError, match="found 3 classes .*CIFAR-10 has 10"):
        cifar10(tmp_path / "tree", cache_dir).load("train")


def test_wrong_image_size(tmp_path, cache_dir):
    write_image_folder(tmp_path / "tree", size=(28, 30), per_class=(1, 1))
    with pytest.raises(DataError, match=r"shape \(3, 30, 28\), expected \(3, 32, 32\)"):
        cifar10(tmp_path / "tree", cache_dir).load("train")


def test_archive_without_a_layout(tmp_path, cache_dir):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("hello")
    archive = tar_folder(tmp_path / "junk", tmp_path / "junk.tar.gz")
    with pytest.raises(DataError, match="holds neither"):
        cifar10(archive, cache_dir).load("train")


def test_corrupt_pickle(tmp_path, cache_dir):
    write_cifar10_pickles(tmp_path / "p")
    (tmp_path / "p" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3"):
        cifar10(tmp_path / "p", cache_dir).load("train")
    (tmp_path / "p" / "data_batch_3").write_bytes(pickle.dumps({b"foo": 1}))
    with pytest.raises(DataError, match="lacks the keys"):
        cifar10(tmp_path / "p", cache_dir).load("train")


def test_download_failure_is_a_data_error(tmp_path, cache_dir, monkeypatch):
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(tvd, "CIFAR10", offline)
    with pytest.raises(DataError, match="downloading CIFAR-10 .* failed: network unreachable"):
        cifar10(tmp_path / "dl", cache_dir, download=True).load("train")


def test_info_and_options_identity():
    info = create_dataset("cifar10").info()
    assert info.num_classes == 10 and info.image_shape == (3, 32, 32)
    assert info.augment == "crop_flip" and info.crop_padding == 4
    # paths and cache knobs never enter a cell id; the augmentation does
    assert identity_fields(AugmentOptions(root="/x", cache_dir="/y", download=True, cache=False)) == {}
    assert identity_fields(AugmentOptions(augment="none")) == {"augment": "none"}
    assert create_dataset("cifar10", AugmentOptions(augment="none")).info().augment == "none"
