"""The decode-once tensor cache: hits skip decoding, changed sources rebuild, writes
are atomic, stale and unreadable entries are replaced."""

from __future__ import annotations

import os

import numpy as np
import pytest
from data_fakes import write_cifar10_pickles, write_image_folder
from PIL import Image

from suite.data import create_dataset
from suite.data import readers as readers_mod
from suite.data.cache import TensorCache, default_cache_dir, fingerprint
from suite.data.files import AugmentOptions


@pytest.fixture
def decode_calls(monkeypatch):
    """Counts calls of the image-folder decoder."""
    calls = []
    real = readers_mod.decode_items

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    import suite.data.cifar as cifar_mod

    monkeypatch.setattr(cifar_mod, "decode_items", counting)
    return calls


def make(root, cache_dir, **kw):
    return create_dataset("cifar10", AugmentOptions(root=str(root), cache_dir=str(cache_dir), **kw))


def entries(cache_dir):
    return sorted((cache_dir / "cifar10").glob("*"))


def test_second_load_hits_the_cache(tmp_path, cache_dir, decode_calls):
    written = write_image_folder(tmp_path / "tree")
    first = make(tmp_path / "tree", cache_dir)
    first.load("train"), first.load("test"), first.info()
    assert len(decode_calls) == 1  # one decode serves both splits
    assert [p.suffix for p in entries(cache_dir)] == [".pt"]  # no temporary left behind
    again = make(tmp_path / "tree", cache_dir)
    assert np.array_equal(again.load("train").images.numpy(), written["train"])
    assert np.array_equal(again.load("test").labels.numpy(), first.load("test").labels.numpy())
    assert len(decode_calls) == 1


def test_changed_source_rebuilds_and_drops_the_stale_entry(tmp_path, cache_dir, decode_calls):
    write_image_folder(tmp_path / "tree")
    make(tmp_path / "tree", cache_dir).load("train")
    (old,) = entries(cache_dir)
    # replace one image by a white one (different size on disk and mtime)
    target = tmp_path / "tree" / "train" / "cat" / "0000.png"
    Image.fromarray(np.full((32, 32, 3), 255, np.uint8)).save(target)
    os.utime(target, ns=(1, 1))
    ds = make(tmp_path / "tree", cache_dir)
    cat = ds.decoded().classes.index("cat")
    assert len(decode_calls) == 2
    assert (ds.load("train").images[ds.load("train").labels == cat][0] == 255).all()
    (new,) = entries(cache_dir)
    assert new != old


def test_added_file_rebuilds(tmp_path, cache_dir, decode_calls):
    write_image_folder(tmp_path / "tree")
    assert len(make(tmp_path / "tree", cache_dir).load("test")) == 10
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "tree" / "test" / "dog" / "x.png")
    assert len(make(tmp_path / "tree", cache_dir).load("test")) == 11
    assert len(decode_calls) == 2


def test_unreadable_entry_is_rebuilt(tmp_path, cache_dir, decode_calls):
    write_image_folder(tmp_path / "tree")
    make(tmp_path / "tree", cache_dir).load("train")
    (entry,) = entries(cache_dir)
    entry.write_bytes(b"garbage")
    assert len(make(tmp_path / "tree", cache_dir).load("train")) == 20
    assert len(decode_calls) == 2
    assert entry.stat().st_size > 1000


def test_cache_off_writes_nothing(tmp_path, cache_dir, decode_calls):
    write_image_folder(tmp_path / "tree")
    make(tmp_path / "tree", cache_dir, cache=False).load("train")
    make(tmp_path / "tree", cache_dir, cache=False).load("train")
    assert not cache_dir.exists() and len(decode_calls) == 2


def test_two_roots_keep_two_entries(tmp_path, cache_dir):
    write_cifar10_pickles(tmp_path / "a")
    write_cifar10_pickles(tmp_path / "b", per_batch=2)
    assert len(make(tmp_path / "a", cache_dir).load("train")) == 20
    assert len(make(tmp_path / "b", cache_dir).load("train")) == 10
    assert len(entries(cache_dir)) == 2
    assert len(make(tmp_path / "a", cache_dir).load("train")) == 20


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SUITE_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SUITE_CACHE")
    assert default_cache_dir() == default_cache_dir().home() / ".cache" / "pruning-suite"
    assert TensorCache("cifar10", "").dir.parent == default_cache_dir()


def test_fingerprint_sees_size_mtime_and_path(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    a = fingerprint("x", [f])
    os.utime(f, ns=(10, 10))
    b = fingerprint("x", [f])
    f.write_bytes(b"abcd")
    os.utime(f, ns=(10, 10))
    c = fingerprint("x", [f])
    g = tmp_path / "g"
    f.rename(g)
    d = fingerprint("x", [g])
    assert len({a, b, c, d}) == 4
    assert fingerprint("y", [g]) != d
