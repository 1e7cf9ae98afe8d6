"""What a grid costs: GPU-hours from each model's MACs, the recipe and a stated throughput.

The estimate is arithmetic, not a measurement. For each run::

    flops = epochs * (3 * 2 * MACs * train_images + 2 * MACs * test_images)
    images_per_second = min(tflops * 1e12 / (3 * 2 * MACs), max_images_per_second)
    seconds = epochs * (train_images + test_images / 3) / images_per_second

times the method's rounds (:meth:`methods.Method.rounds`: a lottery-ticket run trains
the recipe once per round), i.e. a training image costs one forward and two backward passes (3 x forward), a
multiply-accumulate is 2 FLOPs, the test set is evaluated (forward only) after every
epoch, and the
GPU sustains ``tflops`` on these kernels but never processes more than
``max_images_per_second`` (small CIFAR networks are bound by kernel launches and the
input pipeline, not by arithmetic). Masked training runs dense kernels, so sparsity
does not lower the cost. MACs are counted with one forward pass of the model on the
dataset's image shape (conv and linear layers).

The defaults, :data:`DEFAULT_TFLOPS` and :data:`DEFAULT_MAX_IMAGES_PER_SECOND`, are
assumptions about one current data-centre GPU in fp32/TF32, not measured here; pass
your own (``suite plan --tflops --max-images-per-second``) after timing a few epochs
(``timing.images_per_second`` in the stored results).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch

from suite.data import DATASETS, create_dataset
from suite.data.info import DatasetInfo, DataShape
from suite.models import create_model
from suite.models.macs import layer_macs

#: Assumed sustained training throughput of one GPU (fp32/TF32 dense kernels).
DEFAULT_TFLOPS = 15.0
#: Assumed ceiling on images per second for any model (launch- and input-bound).
DEFAULT_MAX_IMAGES_PER_SECOND = 10_000.0


def data_shape(name: str, options: Any) -> DataShape | None:
    """The shape of dataset ``name`` with ``options``; None when it cannot be known
    without reading the data."""
    known = DATASETS.get(name).shape if name in DATASETS else None
    size = getattr(options, "image_size", None)
    if known is not None:
        if isinstance(size, int) and size != known.image_shape[1]:
            c = known.image_shape[0]
            return DataShape(known.num_classes, (c, size, size), known.train_images,
                             known.test_images)
        return known
    train, test = getattr(options, "train_size", None), getattr(options, "test_size", None)
    if not (isinstance(train, int) and isinstance(test, int)):
        return None
    try:
        info = create_dataset(name, options).info()
    except Exception:  # noqa: BLE001 - a plugin that needs its files cannot be sized
        return None
    return DataShape(info.num_classes, info.image_shape, train, test)


@lru_cache(maxsize=256)
def model_macs(model: str, model_options: Any, num_classes: int,
               image_shape: tuple[int, int, int]) -> int:
    """Forward MACs of one image through ``model`` (conv and linear layers), counted on
    the meta device (shapes only, no arithmetic), or on the CPU if the model cannot be
    built there."""
    info = DatasetInfo(num_classes, image_shape, (0.5,) * image_shape[0], (0.25,) * image_shape[0])
    try:
        with torch.device("meta"):
            net = create_model(model, info, model_options)
        return int(sum(layer_macs(net, image_shape).values()))
    except Exception:  # noqa: BLE001 - an op without a meta kernel: count on the CPU
        net = create_model(model, info, model_options)
        return int(sum(layer_macs(net, image_shape).values()))


@dataclass(frozen=True)
class RunCost:
    """The estimated cost of one run of one cell."""

    macs: int
    epochs: int
    train_images: int
    test_images: int
    images_per_second: float
    seconds: float
    #: Trainings of the recipe per run (the method's rounds); ``seconds`` counts them all.
    rounds: int = 1


def run_cost(cell: Any, tflops: float = DEFAULT_TFLOPS,
             max_images_per_second: float = DEFAULT_MAX_IMAGES_PER_SECOND) -> RunCost | None:
    """The cost of one run of ``cell`` (a :class:`suite.grid.Cell`); None when the
    dataset's size is unknown."""
    shape = data_shape(cell.dataset, cell.dataset_options)
    if shape is None:
        return None
    macs = model_macs(cell.model, cell.model_options, shape.num_classes, shape.image_shape)
    ips = min(tflops * 1e12 / (6.0 * macs), max_images_per_second) if macs else max_images_per_second
    epochs, rounds = cell.train.epochs, cell.rounds
    # evaluation: a forward pass is a third of a training step's work
    seconds = rounds * epochs * (shape.train_images + shape.test_images / 3.0) / ips
    return RunCost(macs, epochs, shape.train_images, shape.test_images, ips, seconds, rounds)


@dataclass
class SpecEstimate:
    """Cells, runs and GPU-hours of one spec (pending = not done in the store)."""

    name: str
    cells: int = 0
    runs: int = 0
    pending_runs: int = 0
    gpu_hours: float = 0.0
    pending_gpu_hours: float = 0.0
    unknown_cells: list[str] = field(default_factory=list)


@dataclass
class Estimate:
    """The estimate of one or more specs; runs shared by specs are counted once in the
    totals."""

    specs: list[SpecEstimate]
    tflops: float
    max_images_per_second: float
    unique_cells: int = 0
    unique_runs: int = 0
    pending_runs: int = 0
    gpu_hours: float = 0.0
    pending_gpu_hours: float = 0.0
    #: (model, dataset) -> (forward MACs per image, images per second assumed)
    models: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    #: (method, sparsity) -> rounds, for the cells of more than one round
    rounds: dict[tuple[str, float], int] = field(default_factory=dict)

    def throughput_line(self) -> str:
        return (f"{self.tflops:g} TFLOP/s sustained per GPU, at most "
                f"{self.max_images_per_second:,.0f} images/s")


def estimate(plans: Iterable[tuple[str, list[Any]]], tflops: float = DEFAULT_TFLOPS,
             max_images_per_second: float = DEFAULT_MAX_IMAGES_PER_SECOND) -> Estimate:
    """GPU-hours of ``plans``: (spec name, planned runs from :func:`suite.runner.plan`)
    pairs. A planned run has ``cell``, ``seed`` and ``status``."""
    out = Estimate([], tflops, max_images_per_second)
    seen: set[tuple[str, int]] = set()
    cells: set[str] = set()
    for name, runs in plans:
        est = SpecEstimate(name)
        est.cells = len({r.cell.id for r in runs})
        for r in runs:
            first = (r.cell.id, r.seed) not in seen
            seen.add((r.cell.id, r.seed))
            cells.add(r.cell.id)
            pending = r.status != "done"
            est.runs += 1
            est.pending_runs += pending
            out.pending_runs += pending and first
            cost = run_cost(r.cell, tflops, max_images_per_second)
            if cost is None:
                if r.cell.id not in est.unknown_cells:
                    est.unknown_cells.append(r.cell.id)
                continue
            out.models[(r.cell.model, r.cell.dataset)] = (cost.macs, cost.images_per_second)
            if cost.rounds > 1:
                out.rounds[(r.cell.method, r.cell.sparsity)] = cost.rounds
            hours = cost.seconds / 3600.0
            est.gpu_hours += hours
            est.pending_gpu_hours += hours if pending else 0.0
            if first:
                out.gpu_hours += hours
                out.pending_gpu_hours += hours if pending else 0.0
        out.specs.append(est)
    out.unique_cells = len(cells)
    out.unique_runs = len(seen)
    return out


def format_hours(hours: float) -> str:
    """'0.000412 GPU-hours', '0.42 GPU-hours', '1,234 GPU-hours (51.4 GPU-days)'."""
    if hours >= 48:
        return f"{hours:,.0f} GPU-hours ({hours / 24:,.1f} GPU-days)"
    if hours >= 0.1 or hours == 0:
        return f"{hours:,.2f} GPU-hours"
    return f"{hours:.3g} GPU-hours"


def describe(est: Estimate, collection: str | None = None) -> list[str]:
    """What ``suite plan`` prints after the runs: cells, runs and GPU-hours (per spec
    for a collection), the stated throughput, and the per-model figures behind it."""
    lines = []
    if collection is not None:
        width = max(len(s.name) for s in est.specs)
        lines.append(f"{collection}: {len(est.specs)} specs")
        lines.append(f"  {'spec':{width}}  {'cells':>6}  {'runs':>6}  {'GPU-hours':>10}")
        for s in est.specs:
            lines.append(f"  {s.name:{width}}  {s.cells:>6}  {s.runs:>6}  {s.gpu_hours:>10,.1f}")
        lines.append(f"{est.unique_cells} cells, {est.unique_runs} runs in all (cells that several "
                     "specs share are run and counted once)")
    unknown = sorted({c for s in est.specs for c in s.unknown_cells})
    lines.append(f"estimate: {format_hours(est.gpu_hours)} for all {est.unique_runs} runs, "
                 f"{format_hours(est.pending_gpu_hours)} for the {est.pending_runs} not done, "
                 f"at {est.throughput_line()}")
    lines.append("  (FLOPs = 3 x 2 x MACs per training image + evaluation; masked training runs "
                 "dense kernels; assumed throughput, not measured: set --tflops and "
                 "--max-images-per-second to your GPU's)")
    for (model, dataset), (macs, ips) in sorted(est.models.items()):
        lines.append(f"  {model:12} {dataset:14} {macs / 1e6:>10,.1f} MMACs/image  "
                     f"{ips:>9,.0f} images/s")
    if est.rounds:
        lines.append("  trainings per run (rounds, each a whole recipe, counted above): " + ", ".join(
            f"{m} s={s:g} {n}" for (m, s), n in sorted(est.rounds.items())))
    if unknown:
        lines.append(f"  no estimate for {len(unknown)} cells whose dataset size is unknown: "
                     + ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else ""))
    return lines
