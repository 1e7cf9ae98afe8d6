"""A store filled with fabricated result records, shaped like a small paper grid.

Writing records directly (instead of training) keeps the report tests to a second or
two while still exercising every path: complete, failed, missing, running and
off-target cells, curves, mask flips and a reference value.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from suite.grid import expand
from suite.result import RESULT_FORMAT
from suite.spec import load_spec
from suite.store import Store

#: The fixture's methods whose mask moves (they get flip ratios).
MOVING = {"dpf", "sm"}

PAPER_SPEC = textwrap.dedent("""
    [suite]
    name = "paper_like"
    description = "Fabricated results in the layout of the paper's CIFAR-10 table."
    seeds = [0, 1, 2]

    [grid]
    method = ["dense", "dpf", "snip", "sm"]
    model = ["resnet20", "wrn28_2"]
    dataset = ["cifar10"]
    sparsity = [0.5, 0.9, 0.99]

    [[grid.exclude]]
    model = "resnet20"
    sparsity = 0.99

    [train]
    epochs = 6

    [report]
    title = "CIFAR-10 & friends: unstructured_pruning"

    [report.labels]
    sm = "SM (momentum)"

    [[reference]]
    source = "fixture value, not a published number"
    method = "dpf"
    model = "resnet20"
    dataset = "cifar10"
    sparsity = 0.9
    value = 90.0
    std = 0.25

    [[reference]]
    source = "another fixture source"
    method = "dense"
    model = "wrn28_2"
    dataset = "cifar10"
    value = 95.0
""")

BASE_ACC = {"resnet20": 92.0, "wrn28_2": 95.0}
DROP = {"dpf": 0.5, "snip": 2.0, "sm": 1.0}


def accuracy(method: str, model: str, sparsity: float, seed: int) -> float:
    """A deterministic, plausible top-1: dense is best, higher sparsity costs more."""
    if method == "dense":
        return BASE_ACC[model] + 0.1 * seed
    return BASE_ACC[model] - DROP[method] * (1 + 10 * sparsity ** 4) + 0.15 * seed


def record(cell, seed: int, top1: float, achieved: float) -> dict:
    epochs = cell.train.epochs
    curve = [{"epoch": e, "train_loss": 2.0 / e, "top1": top1 - 20.0 / e + 20.0 / epochs,
              "test_loss": 1.0 / e, "lr": 0.1, "sparsity": cell.sparsity * min(1.0, e / 3)}
             for e in range(1, epochs + 1)]
    flips = []
    if cell.method in MOVING:
        flips = [{"step": 16 * k, "flip_ratio": 0.05 * math.exp(-k / 5) * (1 + 0.1 * seed)}
                 for k in range(1, 20)]
    return {
        "format": RESULT_FORMAT, "cell_id": cell.id, "cell": cell.canonical(), "seed": seed,
        "metrics": {"top1": top1, "best_top1": max(c["top1"] for c in curve),
                    "train_loss": curve[-1]["train_loss"], "test_loss": 0.3},
        "curve": curve,
        "sparsity": {"target": cell.sparsity, "overall": achieved, "per_layer": {},
                     "off_target": abs(achieved - cell.sparsity) > 0.005,
                     "params_total": 269_722 if cell.model == "resnet20" else 1_467_610,
                     "params_prunable": 1, "params_kept": 1, "macs_total": 1, "macs_kept": 1},
        "flips": flips,
        "timing": {"train_seconds": 1.0, "wall_seconds": 1.5, "images_per_second": 1000.0},
        "provenance": {"device": "cpu", "torch": "fixture"},
    }


def fill_store(spec_path: Path, results: Path) -> Store:
    """Store fabricated results for the spec at ``spec_path``, with gaps on purpose:
    snip/resnet20/90% seed 2 failed, sm/wrn28_2/99% never ran, sm/resnet20/50% is off
    its target sparsity, dpf/wrn28_2/50% seed 1 is still running."""
    spec = load_spec(spec_path)
    cells = expand(spec)
    store = Store(results)
    store.record_spec(spec, cells)
    owner = "fixture:1:x"
    for cell in cells:
        for seed in spec.seeds:
            key = (cell.method, cell.model, round(cell.sparsity, 2))
            if key == ("sm", "wrn28_2", 0.99):
                continue
            claim = store.claim(cell.id, seed, owner)
            assert claim
            if key == ("dpf", "wrn28_2", 0.5) and seed == 1:
                continue  # left running
            if key == ("snip", "resnet20", 0.9) and seed == 2:
                store.finish(claim, "failed", None, "training loss became nan")
                continue
            achieved = cell.sparsity - (0.03 if key == ("sm", "resnet20", 0.5) else 0.0)
            top1 = accuracy(cell.method, cell.model, cell.sparsity, seed)
            store.finish(claim, "done", record(cell, seed, top1, achieved))
    return store


@pytest.fixture
def paper_spec(tmp_path: Path) -> Path:
    """The paper-like spec, written to a file (no results)."""
    spec_path = tmp_path / "paper_like.toml"
    spec_path.write_text(PAPER_SPEC)
    return spec_path


@pytest.fixture
def paper_store(paper_spec: Path) -> tuple[Path, Path]:
    """(spec path, results dir) of a fabricated paper-like store."""
    spec_path = paper_spec
    results = spec_path.parent / "results"
    fill_store(spec_path, results).close()
    return spec_path, results


@pytest.fixture
def against_store(tmp_path: Path) -> tuple[Path, Path]:
    """(spec path, results dir) of the fabricated store, its spec with
    ``[report] against_best = true``."""
    spec_path = tmp_path / "paper_like.toml"
    title = 'title = "CIFAR-10 & friends: unstructured_pruning"\n'
    spec_path.write_text(PAPER_SPEC.replace(title, title + "against_best = true\n"))
    results = tmp_path / "results"
    fill_store(spec_path, results).close()
    return spec_path, results
