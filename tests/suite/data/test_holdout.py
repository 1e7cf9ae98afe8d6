"""The validation split of ``[train] val_fraction``: its exact rule, determinism,
disjointness from the training indices, and both pipelines (in memory, streamed JPEGs)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from test_imagenet_stream import imagenet, make_tree

from backends.validation import build_loaders
from suite.data import create_dataset
from suite.data.holdout import VAL_SEED_OFFSET, holdout
from suite.data.small import SyntheticOptions
from suite.data.streaming import eval_transform
from suite.errors import SpecError
from suite.recipes import TrainRecipe


def test_the_rule_sizes_and_disjointness():
    h = holdout(100, 0.2, 3)
    perm = torch.randperm(100, generator=torch.Generator().manual_seed(3 + VAL_SEED_OFFSET))
    assert h.val.tolist() == sorted(perm[:20].tolist())
    assert h.train.tolist() == sorted(perm[20:].tolist())
    assert set(h.val.tolist()).isdisjoint(h.train.tolist())
    assert sorted(h.val.tolist() + h.train.tolist()) == list(range(100))
    assert holdout(10, 0.25, 0).val.numel() == 3  # floor(2.5 + 0.5)
    assert holdout(10, 0.01, 0).val.numel() == 1  # at least one image
    assert holdout(2, 0.9, 0).train.numel() == 1  # at least one left to train on
    with pytest.raises(SpecError, match=r"val_fraction = 0.5 needs a training split of at least 2"):
        holdout(1, 0.5, 0)


def test_the_split_is_a_function_of_seed_fraction_and_size():
    a, b = holdout(500, 0.1, 7), holdout(500, 0.1, 7)
    assert torch.equal(a.val, b.val) and a.record() == b.record()
    assert not torch.equal(holdout(500, 0.1, 8).val, a.val)
    assert a.record() == {"fraction": 0.1, "images": 50, "train_images": 450, "split_images": 500,
                          "seed": 7, "generator_seed": 7 + VAL_SEED_OFFSET,
                          "indices_crc32": a.checksum()}
    assert holdout(500, 0.1, 8).checksum() != a.checksum()


def test_in_memory_loaders_train_on_the_rest_and_read_the_held_out_images_plainly():
    ds = create_dataset("synthetic", SyntheticOptions(train_size=100, test_size=20))
    recipe = TrainRecipe(batch_size=16, val_fraction=0.3)
    loaders = build_loaders(ds, recipe, 5, torch.device("cpu"), False)
    split, full = loaders.holdout, ds.load("train")
    assert torch.equal(split.val, holdout(100, 0.3, 5).val)
    assert torch.equal(loaders.train.images, full.images[split.train])  # trains on the rest only
    assert len(loaders.train) == 70 // 16
    xs, ys = zip(*loaders.val.epoch(0), strict=True)
    assert torch.equal(torch.cat(ys), full.labels[split.val])
    mean, std = loaders.val.mean, loaders.val.std
    want = (full.images[split.val].float() - mean) / std  # no augmentation, in index order
    torch.testing.assert_close(torch.cat(xs), want, rtol=0, atol=0)
    assert build_loaders(ds, TrainRecipe(batch_size=16), 5, torch.device("cpu"), False).val is None


def test_streamed_jpegs_hold_out_the_same_files(tmp_path):
    ds = imagenet(make_tree(tmp_path / "in"))  # 12 training images, 3 classes
    loaders = build_loaders(ds, TrainRecipe(batch_size=4, val_fraction=0.25), 0, torch.device("cpu"),
                            False)
    split = loaders.holdout
    assert split.val.numel() == 3 and split.train.numel() == 9
    files = ds.samples("train")
    assert [p for p, _ in loaders.train.loader.dataset.samples] == [files[i][0] for i in split.train]
    ys = torch.cat([y for _, y in loaders.val.epoch(0)])
    assert ys.tolist() == [files[i][1] for i in split.val]
    x = torch.cat([x for x, _ in loaders.val.epoch(0)])
    with Image.open(files[int(split.val[0])][0]) as im:  # the test-time transform, no augmentation
        want = eval_transform(16, 20)(im.convert("RGB"), None).float()
    mean, std = loaders.val.mean[0], loaders.val.std[0]
    torch.testing.assert_close(x[0], (want - mean) / std, rtol=0, atol=1e-6)
