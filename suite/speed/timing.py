"""Timing that survives a shared, noisy machine: the forms of one model are run in
interleaved rounds (so outside load slows them alike), after warm-up rounds, on a fixed
number of threads; each figure is the median over rounds with its p10 and p90.

On CUDA, :func:`cuda_timer` times with CUDA events (the GPU's own clock) instead of the
host's, after a synchronize."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass

import torch

from suite.provenance import cpu_capability, cpu_name

#: Each timed sample repeats the call until it lasts at least this long (batch 1 calls
#: take a millisecond, shorter than the clock's noise on a busy machine).
MIN_SAMPLE_SECONDS = 0.02


@dataclass(frozen=True)
class Stats:
    """Seconds per call over the timed rounds: median, 10th and 90th percentiles."""

    median: float
    p10: float
    p90: float
    rounds: int
    calls_per_round: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, linearly interpolated."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def stats(samples: list[float], calls: int) -> Stats:
    """Stats of per-call ``samples`` (seconds)."""
    return Stats(percentile(samples, 0.5), percentile(samples, 0.1), percentile(samples, 0.9),
                 len(samples), calls)


def host_timer(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call of ``fn`` over ``calls`` calls, on the host's clock."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def cuda_timer(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call of ``fn`` timed with CUDA events (needs CUDA)."""
    if not torch.cuda.is_available():
        raise RuntimeError("CUDA-event timing needs a CUDA device; this machine has none")
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1000.0 / calls


def interleaved(fns: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int = 3,
                timer: Callable[[Callable[[], object], int], float] = host_timer) -> dict[str, Stats]:
    """Time every function of ``fns`` in ``repeats`` rounds after ``warmup`` rounds; in
    each round each function runs once (its calls back to back), in an order that
    rotates from round to round."""
    if repeats < 1:
        raise ValueError(f"repeats = {repeats}; allowed: 1 or more")
    names = list(fns)
    calls = {}
    for name in names:  # calibrate: enough calls for a sample of MIN_SAMPLE_SECONDS
        once = timer(fns[name], 1)
        calls[name] = max(1, math.ceil(MIN_SAMPLE_SECONDS / max(once, 1e-6)))
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            seconds = timer(fns[name], calls[name])
            if r >= warmup:
                samples[name].append(seconds)
    return {name: stats(samples[name], calls[name]) for name in names}


@contextlib.contextmanager
def threads(count: int) -> Iterator[bool]:
    """Run the block on ``count`` intra-op threads with denormals flushed to zero, then
    restore both; yields whether the CPU flushes (SSE3 and newer do). Trained weights
    and activations can hold denormal floats, which the CPU handles many times slower
    (a trained ResNet-20 ran 25% slower than a fresh one); flushing them times every
    model on its shape, as deployments run them."""
    if count < 1:
        raise ValueError(f"threads = {count}; allowed: 1 or more")
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    flushing = torch.set_flush_denormal(True)
    try:
        yield flushing
    finally:
        torch.set_num_threads(before)
        if flushing:
            torch.set_flush_denormal(False)


def machine(device: torch.device) -> dict[str, object]:
    """What a timing depends on: CPU model and capability, threads, GPU model, torch, and
    the load average when it was taken (the machine may be shared)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {"cpu_name": cpu_name(), "cpu_capability": cpu_capability(),
            "threads": torch.get_num_threads(), "device": str(device),
            "gpu_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "torch": torch.__version__, "cores": os.cpu_count(), "load_average": list(load)}


def machine_key(info: Mapping[str, object]) -> str:
    """The key that keeps records of different machines apart in the store."""
    gpu = f"{info['gpu_name']} | " if info.get("gpu_name") else ""
    return f"{gpu}{info['cpu_name']} | {info['cpu_capability']} | {info['threads']} threads"
