"""bench/gpu.py on the CPU: without CUDA it skips the GPU parts and exits 0; its two
parts (Trainer throughput per mode, a ``suite run`` timed from the store) work on a
tiny spec. Quick, part of the default run (not a benchmark)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from backends import precision as numerics

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"
TINY = ('dataset = ["synthetic"]\n[dataset.synthetic]\nchannels = 3\nimage_size = 8\n'
        "train_size = 128\ntest_size = 64\n")


@pytest.fixture(scope="module")
def gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_the_gpu_parts_are_skipped(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, str(SCRIPT), "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "no CUDA device here" in out.stdout and "skipping the GPU measurements" in out.stdout
    machine = json.loads((tmp_path / "r.json").read_text())["machine"]
    assert machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_throughput_per_mode_and_the_budget(gpu, tmp_path, monkeypatch):
    monkeypatch.setattr(numerics, "_COMPILE_FAILED", [])
    monkeypatch.setattr(torch, "compile", lambda m: (_ for _ in ()).throw(RuntimeError("no compiler")))
    with pytest.warns(numerics.CompileFallbackWarning):
        rows = gpu.run_throughput(torch.device("cpu"), {"mlp": TINY}, tmp_path, gpu.Budget(300),
                                  models={"mlp": (32, 1, 3)})
    assert [r["mode"] for r in rows] == ["fp32", "tf32", "bf16", "bf16+compile"]
    assert all(r["images_per_second"] > 0 for r in rows)
    assert [r["precision"] for r in rows] == ["fp32", "fp32", "bf16", "bf16"]
    assert rows[-1]["compile"] is False and "no compiler" in rows[-1]["compile_error"]
    assert gpu.run_throughput(torch.device("cpu"), {"mlp": TINY}, tmp_path, gpu.Budget(0),
                              models={"mlp": (32, 1, 3)}) == []  # no time left: all skipped


def test_suite_run_is_timed_from_the_store(gpu, tmp_path):
    spec = gpu.spec_text("mlp", TINY, "bf16", batch=32, device="cpu")
    r = gpu.run_suite(spec, tmp_path, tmp_path / "cache", gpu.Budget(600))
    assert "error" not in r, r
    assert r["epoch_seconds"] > 0 and r["precision"] == "bf16" and 0 <= r["top1"] <= 100
