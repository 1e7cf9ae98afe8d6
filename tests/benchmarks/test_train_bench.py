"""Training throughput of dense ResNet-20 on the CIFAR-10 JPEG copy: the suite's Trainer
against a plain PyTorch loop over torchvision's DataLoader (pytest-benchmark; not in the
default run).

    pytest tests/benchmarks/test_train_bench.py -m benchmark --benchmark-only

A round is ``STEPS`` optimizer steps at batch 128 (forward, backward, SGD with Nesterov
momentum and weight decay), data loading included; ``extra_info["images_per_second"]``
is images / median round time. Both sides train the same model definition.

- ``test_suite_trainer``: ``Trainer.build`` + ``Trainer.train_step`` over the dataset's
  loader (in-memory tensors, batched augmentation on the device, channels_last). On a
  GPU also in bf16 (the cell's ``precision = "bf16"``: autocast over fp32 weights).
  fp32 against bf16 on the CPU: ``test_precision_bench.py``.
- ``test_plain_loop``: ImageFolder over the extracted JPEGs with the standard PIL
  transforms, DataLoader with 0 and 2 workers (pinned memory and 8 workers on a GPU).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from backends.training import Trainer
from suite.data import create_dataset
from suite.grid import expand
from suite.models import create_model
from suite.spec import parse_spec

ARCHIVE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
BATCH = 128
STEPS = 16
IMAGES = BATCH * STEPS
HAS_GPU = torch.cuda.is_available()

pytestmark = [pytest.mark.benchmark,
              pytest.mark.skipif(not ARCHIVE.exists(), reason=f"{ARCHIVE} not present")]

NEEDS_GPU = pytest.mark.skipif(not HAS_GPU, reason="no GPU")


def rate(benchmark) -> None:
    benchmark.extra_info["images_per_second"] = round(IMAGES / benchmark.stats.stats.median, 1)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """The benchmark's cell in fp32 and in bf16 (the data decoded once, outside timing)."""
    cache = tmp_path_factory.mktemp("tensor-cache")
    spec = textwrap.dedent(f"""
        [suite]
        name = "train-bench"
        seeds = [0]
        [grid]
        method = ["dense"]
        model = ["resnet20"]
        dataset = ["cifar10"]
        sparsity = [0.0]
        [train]
        recipe = "resnet_cifar"
        [dataset.cifar10]
        root = "{ARCHIVE}"
        cache_dir = "{cache}"
    """)
    out = {p: expand(parse_spec(spec + f'[backend.torch]\nprecision = "{p}"\n'))[0]
           for p in ("fp32", "bf16")}
    create_dataset("cifar10", out["fp32"].dataset_options).load("train")
    return out


@pytest.mark.benchmark(group="resnet20-cifar10-training")
@pytest.mark.parametrize("device,amp", [("cpu", False), pytest.param("cuda", False, marks=NEEDS_GPU),
                                        pytest.param("cuda", True, marks=NEEDS_GPU)])
def test_suite_trainer(benchmark, cells, tmp_path, device, amp):
    trainer = Trainer(cells["bf16" if amp else "fp32"], 0, tmp_path, torch.device(device),
                      channels_last=True)
    trainer.build()
    trainer.model.train()
    state = {"step": 0, "epoch": 0, "batches": trainer.train_loader.epoch(0)}

    def next_batch():
        try:
            return next(state["batches"])
        except StopIteration:
            state["epoch"] += 1
            state["batches"] = trainer.train_loader.epoch(state["epoch"])
            return next(state["batches"])

    def run() -> None:
        for _ in range(STEPS):
            x, y = next_batch()
            trainer.train_step(x, y, state["step"])
            state["step"] += 1
        sync(device)

    benchmark.extra_info.update(loop="suite Trainer", device=device, amp=amp, images=IMAGES)
    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    rate(benchmark)


@pytest.mark.benchmark(group="resnet20-cifar10-training")
@pytest.mark.parametrize("device,workers", [("cpu", 0), ("cpu", 2),
                                            pytest.param("cuda", 8, marks=NEEDS_GPU)])
def test_plain_loop(benchmark, jpeg_tree, device, workers):
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    info = create_dataset("cifar10").info()
    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(info.mean, info.std)])
    loader = torch.utils.data.DataLoader(
        ImageFolder(str(jpeg_tree / "train"), transform=transform), batch_size=BATCH, shuffle=True,
        num_workers=workers, drop_last=True, pin_memory=device == "cuda",
        persistent_workers=workers > 0)
    torch.manual_seed(0)
    model = create_model("resnet20", info).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                                weight_decay=1e-4)
    state = {"batches": iter(loader)}

    def next_batch():
        try:
            return next(state["batches"])
        except StopIteration:
            state["batches"] = iter(loader)
            return next(state["batches"])

    def run() -> None:
        for _ in range(STEPS):
            x, y = next_batch()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync(device)

    benchmark.extra_info.update(loop=f"plain PyTorch, DataLoader {workers} workers", device=device,
                                images=IMAGES)
    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    rate(benchmark)
