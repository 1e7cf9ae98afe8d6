"""Shuffling and augmentation of the in-memory pipeline depend on (seed, epoch) only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from suite.data import Dataset, TensorSplit
from suite.data.info import DatasetInfo
from suite.data.pipeline import InMemoryLoader, crop_flip, epoch_generator

INFO = DatasetInfo(10, (3, 8, 8), (0.5,) * 3, (0.25,) * 3, augment="crop_flip", crop_padding=2)


def split(n: int = 40) -> TensorSplit:
    gen = torch.Generator().manual_seed(0)
    return TensorSplit(torch.randint(0, 256, (n, 3, 8, 8), generator=gen, dtype=torch.uint8),
                       torch.arange(n) % 10)


def batches(loader: InMemoryLoader, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in loader.epoch(epoch)]


def same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x, u) and torch.equal(y, v)
                                    for (x, y), (u, v) in zip(a, b, strict=True))


def test_same_seed_and_epoch_same_batches():
    a = InMemoryLoader(split(), INFO, 16, train=True, seed=3)
    b = InMemoryLoader(split(), INFO, 16, train=True, seed=3)
    assert same(batches(a, 5), batches(b, 5))
    # drawing epoch 5 again, after other epochs, gives it again (resume)
    batches(a, 0)
    assert same(batches(a, 5), batches(b, 5))


def test_other_epoch_or_seed_differs():
    a = InMemoryLoader(split(), INFO, 16, train=True, seed=3)
    b = InMemoryLoader(split(), INFO, 16, train=True, seed=4)
    assert not same(batches(a, 0), batches(a, 1))
    assert not same(batches(a, 0), batches(b, 0))


def test_eval_is_ordered_and_unaugmented():
    s = split(20)
    loader = InMemoryLoader(s, INFO, 16, train=False, seed=3)
    xs = batches(loader, 0)
    assert [len(y) for _, y in xs] == [16, 4]  # nothing dropped in evaluation
    x = torch.cat([b[0] for b in xs])
    expected = (s.images.float() - 127.5) / 63.75
    assert torch.allclose(x, expected, atol=1e-5)
    assert same(xs, batches(loader, 7))


def test_train_drops_partial_batch_and_covers_a_permutation():
    s = split(40)
    loader = InMemoryLoader(s, DatasetInfo(10, (3, 8, 8), (0.0,) * 3, (1 / 255,) * 3), 16, train=True)
    xs = batches(loader, 0)
    assert len(loader) == 2 and loader.num_samples == 32 and len(xs) == 2
    seen = torch.cat([x for x, _ in xs]).round().to(torch.uint8)
    originals = {bytes(img.numpy()) for img in s.images}
    assert all(bytes(img.numpy()) in originals for img in seen)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), pad=st.integers(0, 4))
def test_crop_flip_takes_a_window_of_the_padded_image(seed, pad):
    info = DatasetInfo(10, (3, 6, 6), (0.0,) * 3, (1.0,) * 3, augment="crop_flip", crop_padding=pad)
    x = torch.randint(0, 256, (4, 3, 6, 6), generator=torch.Generator().manual_seed(seed),
                      dtype=torch.uint8)
    out = crop_flip(x, epoch_generator(seed, 0), info)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = F.pad(x, (pad, pad, pad, pad))
    for i in range(4):
        windows = [padded[i, :, r:r + 6, c:c + 6] for r in range(2 * pad + 1) for c in range(2 * pad + 1)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)
    again = crop_flip(x, epoch_generator(seed, 0), info)
    assert torch.equal(out, again)


def test_channels_last_batches():
    loader = InMemoryLoader(split(), INFO, 16, train=True, channels_last=True)
    x, _ = next(iter(loader.epoch(0)))
    assert x.is_contiguous(memory_format=torch.channels_last) and x.dtype == torch.float32


def test_default_dataset_loader_is_in_memory():
    class Tiny(Dataset):
        def info(self):
            return INFO

        def load(self, which):
            return split()

    loader = Tiny().loader("train", 8, train=True, seed=1)
    assert isinstance(loader, InMemoryLoader) and len(loader) == 5
    ref = InMemoryLoader(split(), INFO, 8, train=True, seed=1)
    assert same(batches(loader, 2), batches(ref, 2))
