"""Input pipeline throughput on the CIFAR-10 JPEG copy (pytest-benchmark; not in the
default run).

    pytest tests/benchmarks/test_pipeline_bench.py -m benchmark --benchmark-only

Each round draws the same number of training images (``BATCHES`` batches of 128,
augmented and normalized, ready for the model); ``extra_info["images_per_second"]``
holds images / median round time.

- ``test_suite_in_memory``: the suite's pipeline, the split decoded once (tensor cache),
  batched crop+flip and normalization, channels_last; on the CPU, and on the GPU when
  there is one (augmentation on the device).
- ``test_torchvision_imagefolder``: torchvision's ImageFolder over the extracted JPEG
  tree with the standard PIL transforms (RandomCrop(32, 4), RandomHorizontalFlip,
  ToTensor, Normalize) through a DataLoader with 0 and 2 workers.
- ``test_decode_cold`` / ``test_load_cached``: decoding the whole archive once (what the
  first run pays) against reading the cached tensors (every later run).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from suite.data import create_dataset
from suite.data.files import AugmentOptions
from suite.data.pipeline import InMemoryLoader

ARCHIVE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
BATCH = 128
BATCHES = 80
IMAGES = BATCH * BATCHES

pytestmark = [pytest.mark.benchmark,
              pytest.mark.skipif(not ARCHIVE.exists(), reason=f"{ARCHIVE} not present")]

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                reason="no GPU"))]


def rate(benchmark) -> None:
    benchmark.extra_info["images_per_second"] = round(IMAGES / benchmark.stats.stats.median, 1)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tensor-cache")


@pytest.fixture(scope="module")
def cifar10(cache_dir):
    ds = create_dataset("cifar10", AugmentOptions(root=str(ARCHIVE), cache_dir=str(cache_dir)))
    ds.load("train")
    return ds


@pytest.mark.benchmark(group="cifar10-input-pipeline")
@pytest.mark.parametrize("device", DEVICES)
def test_suite_in_memory(benchmark, cifar10, device):
    loader = InMemoryLoader(cifar10.load("train"), cifar10.info(), BATCH, train=True, seed=0,
                            device=device, channels_last=True)
    state = {"epoch": 0}

    def run() -> None:
        batches = loader.epoch(state["epoch"])
        for _ in range(BATCHES):
            x, _ = next(batches)
        if x.is_cuda:
            torch.cuda.synchronize()
        state["epoch"] += 1

    benchmark.extra_info.update(pipeline="suite in-memory", device=device, images=IMAGES)
    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    rate(benchmark)


@pytest.mark.benchmark(group="cifar10-input-pipeline")
@pytest.mark.parametrize("workers", [0, 2])
def test_torchvision_imagefolder(benchmark, jpeg_tree, workers):
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    info = create_dataset("cifar10").info()
    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(info.mean, info.std)])
    dataset = ImageFolder(str(jpeg_tree / "train"), transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers,
                                         drop_last=True, persistent_workers=workers > 0)

    def run() -> None:
        batches = iter(loader)
        for _ in range(BATCHES):
            next(batches)

    benchmark.extra_info.update(pipeline=f"torchvision ImageFolder, {workers} workers", images=IMAGES)
    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    rate(benchmark)


@pytest.mark.benchmark(group="cifar10-decode")
def test_decode_cold(benchmark):
    def run() -> None:
        create_dataset("cifar10", AugmentOptions(root=str(ARCHIVE), cache=False)).load("train")

    benchmark.extra_info.update(what="decode all 60,000 JPEGs from the archive")
    benchmark.pedantic(run, rounds=1, warmup_rounds=0)


@pytest.mark.benchmark(group="cifar10-decode")
def test_load_cached(benchmark, cifar10, cache_dir):
    def run() -> None:
        ds = create_dataset("cifar10", AugmentOptions(root=str(ARCHIVE), cache_dir=str(cache_dir)))
        ds.load("train").images.sum()  # touch every page of the memory-mapped entry

    benchmark.extra_info.update(what="read the cached uint8 tensors")
    benchmark.pedantic(run, rounds=3, warmup_rounds=0)
