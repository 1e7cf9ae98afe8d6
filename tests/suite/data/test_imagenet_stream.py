"""ImageNet's streaming loader on a tiny fake class-folder tree: shapes, normalization,
determinism across worker counts, the crop rule, and a Trainer run through it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fakes import fake_images
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from suite.data import create_dataset
from suite.data.imagenet import ImageNetOptions
from suite.data.streaming import StreamingLoader, random_resized_crop_box
from suite.errors import DataError

WNIDS = ("n01440764", "n01443537", "n02102040")


def make_tree(root: Path, per_class=(4, 2)) -> Path:
    for s, (folder, count) in enumerate(zip(("train", "val"), per_class, strict=True)):
        for c, wnid in enumerate(WNIDS):
            d = root / folder / wnid
            d.mkdir(parents=True)
            sizes = [(40 + 7 * i, 30 + 5 * c) for i in range(count)]  # varied shapes
            for i, (w, h) in enumerate(sizes):
                img = fake_images(1, 10 * s + c + 100 * i, (h, w, 3))[0]
                Image.fromarray(img).save(d / f"{wnid}_{i}.JPEG", format="JPEG")
    return root


def imagenet(root: Path, **kw):
    kw = {"image_size": 16, "eval_resize": 20, "workers": 0, **kw}
    return create_dataset("imagenet", ImageNetOptions(root=str(root), **kw))


def collect(loader, epoch):
    return [(x.clone(), y.clone()) for x, y in loader.epoch(epoch)]


def test_info_and_batches(tmp_path):
    ds = imagenet(make_tree(tmp_path / "in"))
    info = ds.info()
    assert info.num_classes == 3 and info.image_shape == (3, 16, 16)
    loader = ds.loader("train", 5, train=True, seed=0)
    assert isinstance(loader, StreamingLoader)
    assert len(loader) == 2 and loader.num_samples == 10  # 12 images, partial batch dropped
    xs = collect(loader, 0)
    assert [tuple(x.shape) for x, _ in xs] == [(5, 3, 16, 16)] * 2
    assert xs[0][0].dtype == torch.float32 and xs[0][1].dtype == torch.int64
    test = ds.loader("test", 4, train=False)
    ys = torch.cat([y for _, y in collect(test, 0)])
    assert ys.tolist() == [0, 0, 1, 1, 2, 2]  # val/ in class then file order, none dropped
    assert ds.provenance() == {"layout": "class folders", "root": str((tmp_path / "in").resolve())}


def test_eval_is_normalized_center_crop(tmp_path):
    root = make_tree(tmp_path / "in")
    ds = imagenet(root)
    x, _ = next(iter(ds.loader("test", 6, train=False).epoch(0)))
    import torchvision.transforms.v2.functional as TF

    with Image.open(root / "val" / WNIDS[0] / f"{WNIDS[0]}_0.JPEG") as im:
        ref = TF.pil_to_tensor(TF.center_crop(TF.resize(im.convert("RGB"), [20]), [16, 16]))
    mean = torch.tensor(ds.info().mean).view(3, 1, 1) * 255
    std = torch.tensor(ds.info().std).view(3, 1, 1) * 255
    assert torch.allclose(x[0], (ref.float() - mean) / std, atol=1e-4)


def test_same_seed_and_epoch_same_batches_for_any_worker_count(tmp_path):
    root = make_tree(tmp_path / "in")
    a = collect(imagenet(root).loader("train", 4, train=True, seed=7), 3)
    b = collect(imagenet(root, workers=2).loader("train", 4, train=True, seed=7), 3)
    c = collect(imagenet(root).loader("train", 4, train=True, seed=7), 4)
    assert all(torch.equal(x, u) and torch.equal(y, v) for (x, y), (u, v) in zip(a, b, strict=True))
    assert not all(torch.equal(x, u) for (x, _), (u, _) in zip(a, c, strict=True))


def test_channels_last(tmp_path):
    ds = imagenet(make_tree(tmp_path / "in"))
    x, _ = next(iter(ds.loader("train", 4, train=True, channels_last=True).epoch(0)))
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_missing_layout_messages(tmp_path):
    with pytest.raises(DataError, match=r"train/<wnid>/\*\.JPEG and val/<wnid>/\*\.JPEG"):
        imagenet(tmp_path / "none").info()
    (tmp_path / "flat" / "train" / WNIDS[0]).mkdir(parents=True)
    (tmp_path / "flat" / "val").mkdir()
    (tmp_path / "flat" / "val" / "ILSVRC2012_val_00000001.JPEG").write_bytes(b"")
    with pytest.raises(DataError, match="valprep"):
        imagenet(tmp_path / "flat").info()
    with pytest.raises(DataError, match="streamed"):
        imagenet(make_tree(tmp_path / "in")).load("train")


@settings(max_examples=60, deadline=None)
@given(w=st.integers(1, 500), h=st.integers(1, 500), seed=st.integers(0, 2**40))
def test_random_resized_crop_box_fits(w, h, seed):
    top, left, ch, cw = random_resized_crop_box(w, h, torch.Generator().manual_seed(seed))
    assert 0 <= top and 0 <= left and 0 < ch and 0 < cw
    assert top + ch <= h and left + cw <= w
    again = random_resized_crop_box(w, h, torch.Generator().manual_seed(seed))
    assert again == (top, left, ch, cw)


def test_crop_areas_follow_the_scale_range():
    gen = torch.Generator().manual_seed(0)
    fractions = np.array([ch * cw / (200 * 200) for _, _, ch, cw in
                          (random_resized_crop_box(200, 200, gen) for _ in range(2000))])
    assert fractions.min() >= 0.07 and fractions.max() <= 1.0
    assert 0.45 < fractions.mean() < 0.62  # uniform on [0.08, 1] has mean 0.54


def test_trainer_runs_through_the_streaming_loader(tmp_path):
    from backends.base import NullProgress
    from backends.training import Trainer
    from suite.grid import expand
    from suite.spec import parse_spec

    root = make_tree(tmp_path / "in")
    spec = textwrap.dedent(f"""
        [suite]
        name = "stream"
        seeds = [0]
        [grid]
        method = ["dense"]
        model = ["small_cnn"]
        dataset = ["imagenet"]
        sparsity = [0.0]
        [train]
        epochs = 1
        batch_size = 4
        [model.small_cnn]
        channels = [4, 8]
        [dataset.imagenet]
        root = "{root}"
        workers = 0
        image_size = 16
        eval_resize = 20
    """)
    cell = expand(parse_spec(spec))[0]
    result = Trainer(cell, 0, tmp_path / "run", torch.device("cpu")).fit(NullProgress())
    assert len(result["curve"]) == 1 and 0 <= result["metrics"]["top1"] <= 100


def test_ranks_decode_disjoint_shards_of_the_epoch(tmp_path):
    from backends.deepspeed.data import shards_natively

    ds = imagenet(make_tree(tmp_path / "in"))
    assert shards_natively(ds)  # so the DeepSpeed backend never decodes the global batch per rank
    whole = torch.cat([y for _, y in collect(ds.loader("test", 6, train=False), 0)])
    shards = [torch.cat([y for _, y in collect(ds.loader("test", 3, train=False, rank=r, world=2), 0)])
              for r in range(2)]
    assert shards[0].tolist() == whole[0::2].tolist() and shards[1].tolist() == whole[1::2].tolist()
    train = [ds.loader("train", 2, train=True, seed=3, rank=r, world=2) for r in range(2)]
    assert len(train[0]) == len(train[1]) == len(ds.loader("train", 4, train=True, seed=3))
