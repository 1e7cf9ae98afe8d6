"""How fast the suite trains on this GPU, in minutes, installing nothing.

    python3 bench/gpu.py [--data ../shared/data/cifar10-jpeg.tar.gz] [--budget 420] [--json OUT]

Run from the repository root (the script puts it on ``sys.path``; the suite need not
be installed). It prints the GPU, then

1. the epoch time of a 1-epoch ResNet-20 CIFAR-10 run through ``suite run`` (dense,
   the ``resnet_cifar`` recipe, ``precision = "auto"``), from the run's stored timing;
2. images/s of ResNet-20 (CIFAR-10, batch 128) and ResNet-50 (224x224 synthetic
   images, 1000 classes, batch 256) training steps of the suite's Trainer, data held
   on the device by the in-memory pipeline, in fp32 (TF32 off), TF32, bf16 (autocast
   over fp32 weights) and bf16 + ``torch.compile``.

Without the CIFAR-10 archive, a synthetic CIFAR-10-sized dataset stands in (said in
the output). Each measurement is skipped once the time ``--budget`` (seconds, for the
whole script) would be overrun, so the script ends in well under 8 minutes; compile
measurements come last. On a machine without CUDA it says so, skips the GPU parts and
exits 0. ``--json`` writes every number to a file.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
#: (label, precision, tf32, compile)
MODES = [("fp32", "fp32", False, False), ("tf32", "fp32", True, False),
         ("bf16", "bf16", True, False), ("bf16+compile", "bf16", True, True)]
#: model -> (batch, warm-up steps, timed steps); compile warms up over more steps
MODELS = {"resnet20": (128, 5, 40), "resnet50": (256, 3, 15)}
COMPILE_WARMUP = 4
#: seconds kept back from the budget for what a measurement costs at most
RESERVE = {"suite run": 150, "resnet20": 20, "resnet50": 40, "compile": 150}


def cifar_table(data: Path | None, cache: Path) -> str:
    """The dataset lines of a ResNet-20 spec: the CIFAR-10 archive, else a stand-in."""
    if data is not None:
        return f'dataset = ["cifar10"]\n[dataset.cifar10]\nroot = "{data}"\ncache_dir = "{cache}"\n'
    return ('dataset = ["synthetic"]\n[dataset.synthetic]\nchannels = 3\nimage_size = 32\n'
            "train_size = 50000\ntest_size = 10000\n")


def spec_text(model: str, data_table: str, precision: str = "fp32", compile: bool = False,
              tf32: bool = True, *, batch: int = 128, epochs: int = 1, device: str = "cuda") -> str:
    """A one-cell dense spec of ``model`` (``data_table`` names the dataset)."""
    dataset, _, tables = data_table.partition("\n")
    return textwrap.dedent(f"""
        [suite]
        name = "bench-{model}"
        seeds = [0]
        [grid]
        method = ["dense"]
        model = ["{model}"]
        {dataset}
        sparsity = [0.0]
        [train]
        recipe = "resnet_cifar"
        epochs = {epochs}
        batch_size = {batch}
    """) + tables + textwrap.dedent(f"""
        [backend.torch]
        device = "{device}"
        precision = "{precision}"
        compile = {str(compile).lower()}
        tf32 = {str(tf32).lower()}
    """)


def resnet50_table() -> str:
    batch = MODELS["resnet50"][0]
    return ('dataset = ["synthetic"]\n[dataset.synthetic]\nnum_classes = 1000\nchannels = 3\n'
            f"image_size = 224\ntrain_size = {4 * batch}\ntest_size = {batch}\n")


def measure(spec: str, device: torch.device, run_dir: Path, warmup: int, steps: int) -> dict:
    """Images/s of ``steps`` Trainer steps of the spec's cell after ``warmup`` steps."""
    from backends.training import Trainer
    from suite.grid import expand
    from suite.spec import parse_spec

    cell = expand(parse_spec(spec))[0]
    options = parse_spec(spec).backend_options["torch"]
    trainer = Trainer(cell, 0, run_dir, device, channels_last=True, compile=options.compile,
                      tf32=options.tf32)
    trainer.build()
    trainer.model.train()
    batches = iter(())
    state = {"epoch": -1, "step": 0}

    def run(n: int) -> None:
        nonlocal batches
        for _ in range(n):
            batch = next(batches, None)
            if batch is None:
                state["epoch"] += 1
                batches = trainer.train_loader.epoch(state["epoch"])
                batch = next(batches)
            trainer.train_step(*batch, state["step"])
            state["step"] += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    t0 = time.perf_counter()
    run(warmup)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    run(steps)
    seconds = time.perf_counter() - t0
    images = steps * cell.train.batch_size
    out = {"images_per_second": images / seconds, "step_ms": 1e3 * seconds / steps,
           "warmup_seconds": warm, "precision": trainer.precision,
           "compile": trainer.numerics.compiler.enabled, "compile_error": trainer.numerics.compiler.error}
    return out


def suite_run(spec: str, work: Path, cache: Path, timeout: float = 300.0) -> dict:
    """Run ``spec`` through ``suite run`` in a subprocess (at most ``timeout`` seconds);
    its epoch time from the store (``suite export``), or ``{"error": [last lines]}``."""
    import csv
    import io

    (work / "spec.toml").write_text(spec)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SUITE_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "suite.cli"]
    t0 = time.perf_counter()
    try:
        run = subprocess.run([*cmd, "run", str(work / "spec.toml"), "--results",
                              str(work / "results")], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=timeout)
        wall = time.perf_counter() - t0
        export = subprocess.run([*cmd, "export", str(work / "spec.toml"), "--results",
                                 str(work / "results"), "--table", "runs"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        return {"error": [f"stopped after {exc.timeout:.0f} s"]}
    for proc in (run, export):
        if proc.returncode != 0:
            return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-5:]}
    row = next(csv.DictReader(io.StringIO(export.stdout)))
    return {"epoch_seconds": float(row["train_seconds"]), "wall_seconds": wall,
            "top1": float(row["top1"]), "precision": row.get("precision"),
            "images_per_second": float(row["images_per_second"])}


def header(device: torch.device) -> dict:
    from backends import precision as numerics
    from suite.provenance import cpu_capability, cpu_name

    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "cpu": cpu_name(),
            "cpu_capability": cpu_capability(), "cpu_native_bf16": numerics.cpu_native_bf16()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, capability=f"{props.major}.{props.minor}",
                    memory_gib=round(props.total_memory / 2**30, 1),
                    multiprocessors=props.multi_processor_count,
                    gpu_native_bf16=numerics.native_bf16(device),
                    cudnn=torch.backends.cudnn.version())
    return info


class Budget:
    """Seconds left of the script's budget."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()


def run_suite(spec: str, work: Path, cache: Path, budget: Budget) -> dict | None:
    """Part 1: the spec's 1-epoch run through ``suite run`` (None: no time left)."""
    if budget.left() < RESERVE["suite run"]:
        print(f"suite run: skipped, {budget.left():.0f} s of the budget left")
        return None
    r = suite_run(spec, work, cache, timeout=max(60.0, budget.left() - 60.0))
    text = ("failed: " + " | ".join(r["error"]) if "error" in r else
            f"epoch {r['epoch_seconds']:.1f} s ({r['images_per_second']:.0f} images/s, "
            f"precision {r['precision']}), whole command {r['wall_seconds']:.1f} s, "
            f"top-1 {r['top1']:.2f}%")
    print(f"suite run, 1 epoch: {text}", flush=True)
    return r


def run_throughput(device: torch.device, tables: dict[str, str], work: Path, budget: Budget,
                   models: dict[str, tuple[int, int, int]] = MODELS, modes=MODES) -> list[dict]:
    """Part 2: images/s of every model in every mode, compiled modes last, within budget."""
    out = []
    plan = [(m, mode) for mode in modes if not mode[3] for m in models]
    plan += [(m, mode) for mode in modes if mode[3] for m in models]
    for model, (label, precision, tf32, compile) in plan:
        need = RESERVE.get(model, 0) + (RESERVE["compile"] if compile else 0)
        if budget.left() < need:
            print(f"{model} {label}: skipped, {budget.left():.0f} s of the budget left")
            continue
        batch, warmup, steps = models[model]
        spec = spec_text(model, tables[model], precision, compile, tf32, batch=batch)
        r = measure(spec, device, work / f"{model}-{label}",
                    warmup + (COMPILE_WARMUP if compile else 0), steps)
        r.update(model=model, mode=label, batch=batch)
        out.append(r)
        fallback = f" (compile failed: {r['compile_error']})" if compile and not r["compile"] else ""
        print(f"{model} batch {batch} {label:13s} {r['images_per_second']:9.0f} images/s  "
              f"{r['step_ms']:7.1f} ms/step  warm-up {r['warmup_seconds']:.1f} s{fallback}",
              flush=True)
        if compile:
            torch._dynamo.reset()
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the CIFAR-10 archive")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the whole script")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args(argv)
    started, budget = time.perf_counter(), Budget(args.budget)
    report: dict = {}
    if not torch.cuda.is_available():
        report["machine"] = m = header(torch.device("cpu"))
        print(f"no CUDA device here (torch {torch.__version__}, CPU {m['cpu']}, capability "
              f"{m['cpu_capability']}): skipping the GPU measurements (for the CPU: "
              "tests/benchmarks/test_precision_bench.py)")
        return finish(args, report)
    device = torch.device("cuda")
    report["machine"] = header(device)
    print("machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()), flush=True)
    data = args.data.resolve() if args.data.exists() else None
    if data is None:
        print(f"{args.data} not found: a synthetic CIFAR-10-sized dataset (50,000 + 10,000 "
              "images of 3x32x32) stands in for CIFAR-10")
    with tempfile.TemporaryDirectory(prefix="suite-gpu-bench-") as tmp:
        work, cache = Path(tmp), Path(tmp) / "cache"
        tables = {"resnet20": cifar_table(data, cache), "resnet50": resnet50_table()}
        report["suite_run"] = run_suite(spec_text("resnet20", tables["resnet20"], "auto"),
                                        work, cache, budget)
        report["throughput"] = run_throughput(device, tables, work, budget)
    report["seconds"] = time.perf_counter() - started
    print(f"done in {report['seconds']:.0f} s")
    return finish(args, report)


def finish(args: argparse.Namespace, report: dict) -> int:
    """Write ``--json`` when asked; the exit status (0)."""
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
