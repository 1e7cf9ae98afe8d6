"""The suite's Trainer stepping ResNet-20 in fp32 and in bf16 (autocast over fp32
weights), side by side in one session (pytest-benchmark; not in the default run).

    SUITE_BENCH_THREADS=1 python -m pytest tests/benchmarks/test_precision_bench.py \\
        -m benchmark --benchmark-only -s

A round is ``STEPS`` calls of ``Trainer.train_step`` at batch 128 (forward and loss
under the cell's precision, backward, SGD with Nesterov momentum and weight decay) on
a fixed batch of 32x32 RGB images from the synthetic dataset, so no data files are
needed and the time is the step's alone. ``SUITE_BENCH_THREADS`` sets torch's thread
count (unset or 0: torch's default).

- ``test_trainer_step``: fp32 and bf16 as separate benchmarks (images/s in extra_info).
- ``test_bf16_speedup_interleaved``: fp32 and bf16 steps alternated on two trainers, so
  that load from elsewhere hits both alike; the median step times and their ratio are
  in extra_info and printed with the CPU model and ``torch.backends.cpu.get_cpu_capability()``.
"""

from __future__ import annotations

import os
import statistics
import textwrap
import time

import pytest
import torch

from backends import precision as numerics
from backends.training import Trainer
from suite.grid import expand
from suite.provenance import cpu_capability, cpu_name
from suite.spec import parse_spec

BATCH = 128
STEPS = int(os.environ.get("SUITE_BENCH_STEPS", "8"))
INTERLEAVED = int(os.environ.get("SUITE_BENCH_INTERLEAVED", "24"))
CPU = torch.device("cpu")

pytestmark = pytest.mark.benchmark


@pytest.fixture(scope="module", autouse=True)
def threads():
    """Torch threads from SUITE_BENCH_THREADS for this module, restored afterwards."""
    before = torch.get_num_threads()
    wanted = int(os.environ.get("SUITE_BENCH_THREADS", "0"))
    if wanted:
        torch.set_num_threads(wanted)
    yield torch.get_num_threads()
    torch.set_num_threads(before)


def machine(threads: int) -> dict:
    return {"cpu": cpu_name(), "cpu_capability": cpu_capability(),
            "native_bf16": numerics.cpu_native_bf16(), "threads": threads, "torch": torch.__version__}


def cell(precision: str):
    spec = textwrap.dedent(f"""
        [suite]
        name = "precision-bench"
        seeds = [0]
        [grid]
        method = ["dense"]
        model = ["resnet20"]
        dataset = ["synthetic"]
        sparsity = [0.0]
        [train]
        recipe = "resnet_cifar"
        [dataset.synthetic]
        channels = 3
        image_size = 32
        train_size = {BATCH * 2}
        test_size = {BATCH}
        [backend.torch]
        precision = "{precision}"
    """)
    return expand(parse_spec(spec))[0]


class Stepper:
    """A built Trainer of one precision, stepping on one fixed batch."""

    def __init__(self, precision: str, run_dir) -> None:
        self.trainer = Trainer(cell(precision), 0, run_dir, CPU, channels_last=True)
        self.trainer.build()
        self.trainer.model.train()
        self.x, self.y = next(iter(self.trainer.train_loader.epoch(0)))
        self.step = 0

    def __call__(self, steps: int = 1) -> None:
        for _ in range(steps):
            self.trainer.train_step(self.x, self.y, self.step)
            self.step += 1


@pytest.mark.benchmark(group="resnet20-trainer-step-precision")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trainer_step(benchmark, tmp_path, threads, precision):
    stepper = Stepper(precision, tmp_path)
    benchmark.extra_info.update(precision=precision, images=BATCH * STEPS, **machine(threads))
    benchmark.pedantic(stepper, args=(STEPS,), rounds=3, warmup_rounds=1)
    benchmark.extra_info["images_per_second"] = round(BATCH * STEPS / benchmark.stats.stats.median, 1)


@pytest.mark.benchmark(group="resnet20-trainer-step-precision")
def test_bf16_speedup_interleaved(benchmark, tmp_path, threads):
    steppers = {p: Stepper(p, tmp_path / p) for p in ("fp32", "bf16")}
    for s in steppers.values():
        s(2)  # warm-up: first steps allocate and pick kernels
    times: dict[str, list[float]] = {p: [] for p in steppers}

    def alternate() -> None:
        for _ in range(INTERLEAVED):
            for p, s in steppers.items():
                t0 = time.perf_counter()
                s()
                times[p].append(time.perf_counter() - t0)

    benchmark.pedantic(alternate, rounds=1, iterations=1)
    fp32, bf16 = (statistics.median(times[p]) for p in ("fp32", "bf16"))
    info = machine(threads)
    benchmark.extra_info.update(info, steps_each=INTERLEAVED, fp32_step_ms=round(1e3 * fp32, 1),
                                bf16_step_ms=round(1e3 * bf16, 1), speedup=round(fp32 / bf16, 3))
    print(f"\nResNet-20 Trainer step, batch {BATCH}, {info['threads']} thread(s) on {info['cpu']} "
          f"(capability {info['cpu_capability']}, native bf16: {info['native_bf16']}): fp32 "
          f"{1e3 * fp32:.1f} ms, bf16 {1e3 * bf16:.1f} ms, bf16 speedup {fp32 / bf16:.2f}x "
          f"(medians of {INTERLEAVED} interleaved steps each)")
