"""Measure the final models of a spec's finished runs (``suite measure``).

Per run: the dense model of the cell's architecture, the masked model as trained
(``model.pt`` of the run) and its pruned form (shrunk, or CSR sparse) are checked for
equal outputs, then timed interleaved at each batch size; the measurement record goes
to the store, keyed by the machine. A run whose ``model.pt`` is not under the results
directory (a store copied without its artifacts) is timed on a stand-in: the
architecture with fresh weights pruned layer by layer to the sparsity the run
recorded, whole filters for filter-structured cells; the record says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from methods.base import default_prunable
from methods.masks import filter_masks, filter_norms, magnitude_masks
from suite.data import create_dataset
from suite.models import create_model, parameter_count
from suite.result import check_format
from suite.runner import plan, run_dir
from suite.speed import macs as macs_mod
from suite.speed import shrink as shrink_mod
from suite.speed import sparse as sparse_mod
from suite.speed import timing
from suite.speed.export_model import export
from suite.store import Store
from suite.store import measurements as stored

#: Outputs of the pruned form must match the masked model's this closely: absolute for
#: outputs up to 1, relative to the largest output beyond (float rounding grows with them).
TOLERANCE = 1e-5


@dataclass(frozen=True)
class Settings:
    """How to measure: batch sizes, threads, timed and warm-up rounds, device."""

    batches: tuple[int, ...] = (1, 64)
    threads: int = 1
    repeats: int = 15
    warmup: int = 3
    device: str = "cpu"
    export: bool = True


def _structure(cell: Any) -> str:
    return getattr(cell.method_options, "structure", "unstructured")


@torch.no_grad()
def stand_in(cell: Any, seed: int, record: dict[str, Any], info: Any) -> nn.Module:
    """The cell's architecture with fresh weights, each prunable layer pruned to the
    sparsity the run's record gives it (by magnitude; by filter norm when filter-structured)."""
    torch.manual_seed(seed)
    model = create_model(cell.model, info, cell.model_options)
    per_layer = (record.get("sparsity") or {}).get("per_layer") or {}
    weights = default_prunable(model)
    for name, p in weights.items():
        s = float(per_layer.get(name, 0.0))
        if s <= 0:
            continue
        if _structure(cell) == "filter":
            mask = filter_masks(filter_norms({name: p}), {name: p.shape}, s, scope="layer")[name]
        else:
            mask = magnitude_masks({name: p}, s, scope="layer")[name]
        p.mul_(mask)
    return model


def load_models(cell: Any, seed: int, record: dict[str, Any],
                run_dir: Path) -> tuple[nn.Module, nn.Module, str, Any]:
    """(dense model, masked model, where its weights came from, dataset info)."""
    info = create_dataset(cell.dataset, cell.dataset_options).info()
    torch.manual_seed(seed)
    dense = create_model(cell.model, info, cell.model_options).eval()
    weights = run_dir / "model.pt"
    if weights.is_file():
        masked = create_model(cell.model, info, cell.model_options)
        masked.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return dense, masked.eval(), "trained", info
    return dense, stand_in(cell, seed, record, info).eval(), "stand-in", info


def pruned_form(masked: nn.Module, example: torch.Tensor) -> tuple[str, nn.Module, nn.Module, dict]:
    """(form name, pruned model, the model it must equal, facts of the conversion)."""
    if not any(bool((p == 0).any()) for p in default_prunable(masked).values()):
        return "dense", masked, masked, {}
    if shrink_mod.zeroes_whole_channels(masked):
        shrunk = shrink_mod.shrink(masked, example)
        return "shrunk", shrunk.model, shrunk.reference, {
            "removed_channels": shrunk.removed_channels, "shifts_zeroed": shrunk.shifts_zeroed,
            "max_change_from_zeroing": shrunk.max_change_from_zeroing}
    model, converted = sparse_mod.to_sparse(masked)
    return "sparse_csr", model, masked, {"converted_layers": converted}


def _macs(form: str, dense: nn.Module, masked: nn.Module, pruned: nn.Module, shape: tuple) -> dict:
    kept = macs_mod.count_kept_macs(masked, shape)
    run = macs_mod.count_macs(pruned, shape) if form in ("shrunk", "dense") else kept
    return {"dense": macs_mod.count_macs(dense, shape), "masked_kept": kept, "pruned": run}


@torch.no_grad()
def measure_run(cell: Any, seed: int, record: dict[str, Any], run_dir: Path,
                settings: Settings) -> dict[str, Any]:
    """The measurement record of one finished run (see the module docstring)."""
    device = torch.device(settings.device)
    dense, masked, source, info = load_models(cell, seed, record, run_dir)
    shape = tuple(info.image_shape)
    generator = torch.Generator().manual_seed(0)
    check_batch = torch.randn((4, *shape), generator=generator)
    form, pruned, reference, facts = pruned_form(masked, check_batch)
    expected = reference(check_batch)
    diff = float((pruned(check_batch) - expected).abs().max())
    allowed = TOLERANCE * max(1.0, float(expected.abs().max()))
    if diff > allowed:
        raise RuntimeError(f"the {form} model of {cell.id} seed {seed} differs from the masked "
                           f"model by {diff:.3g} (allowed: {allowed:.3g}, {TOLERANCE:g} of the "
                           "largest output)")
    models = {"dense": dense, "masked": masked, "pruned": pruned}
    if form == "dense":  # nothing pruned: the masked model is the pruned one
        models.pop("pruned")
    if device.type == "cuda":  # CSR weights are plain attributes: convert again on the device
        models = {k: m.to(device) for k, m in models.items() if not (k == "pruned" and form == "sparse_csr")}
        if form == "sparse_csr":
            models["pruned"] = sparse_mod.to_sparse(models["masked"])[0]
        semi, converted = sparse_mod.semi_structured(masked)
        if converted:  # fp16 weights: it takes fp16 images
            models["semi_structured"] = lambda x, m=semi: m(x.half())
    timer = timing.cuda_timer if device.type == "cuda" else timing.host_timer
    out: dict[str, Any] = {"format": stored.FORMAT, "form": form, "weights": source,
                           "structure": _structure(cell),
                           "sparsity": (record.get("sparsity") or {}).get("overall"),
                           "check": {"max_abs_diff": diff, "allowed": allowed, **facts},
                           "params": {"dense": parameter_count(dense), "pruned": parameter_count(pruned)},
                           "macs": _macs(form, dense, masked, pruned, shape), "timings": {},
                           "speedup": {}, "speedup_masked": {}}
    with timing.threads(settings.threads) as flushing:
        out["machine"] = {**timing.machine(device), "flush_denormal": flushing}
        for batch in settings.batches:
            x = torch.randn((batch, *shape), generator=generator).to(device)
            fns: dict[str, Callable[[], object]] = {k: (lambda m=m, x=x: m(x)) for k, m in models.items()}
            got = timing.interleaved(fns, repeats=settings.repeats, warmup=settings.warmup, timer=timer)
            got.setdefault("pruned", got["masked"])
            out["timings"][str(batch)] = {k: s.as_dict() for k, s in got.items()}
            out["speedup"][str(batch)] = got["dense"].median / got["pruned"].median
            out["speedup_masked"][str(batch)] = got["dense"].median / got["masked"].median
    if settings.export and source == "trained" and form != "dense":
        out["exported"] = export(masked, pruned if form == "shrunk" else None, run_dir / "export",
                                 check_batch)
    return out


def done_runs(specs: Iterable[Any], store: Store | None, only: Iterable[str]):
    """(spec, cell, seed, result record) of each finished run that ``only`` selects."""
    specs = list(specs)
    seen: set[tuple[str, int]] = set()
    for spec in specs:
        for r in plan(spec, store, only, require_match=len(specs) == 1):
            if r.status == "done" and r.row.result and (r.cell.id, r.seed) not in seen:
                seen.add((r.cell.id, r.seed))
                yield spec, r.cell, r.seed, check_format(r.row.result)


def summary_line(label: str, rec: dict[str, Any]) -> str:
    """One line of what was measured, for the terminal."""
    parts = [f"{label}: {rec['form']}"]
    if rec["weights"] != "trained":
        parts.append(f"({rec['weights']})")
    for batch, speedup in rec["speedup"].items():
        t = rec["timings"][batch]
        parts.append(f"b{batch} dense {1e3 * t['dense']['median']:.2f} ms, pruned "
                     f"{1e3 * t['pruned']['median']:.2f} ms = {speedup:.2f}x")
    macs = rec["macs"]
    parts.append(f"MACs kept {macs['pruned'] / macs['dense']:.3f}")
    return "  ".join(parts)


def measure(specs: Iterable[Any], store: Store, results: Path, settings: Settings, *,
            only: Iterable[str] = (), echo: Callable[[str], None] = print) -> tuple[int, list[str]]:
    """Measure every finished run of ``specs`` that ``only`` selects and store the
    records; returns how many runs were measured and why the others were not (a pruned
    form whose outputs differ from the masked model's is not timed)."""
    if settings.device == "cpu":
        echo("GPU paths skipped: no --device cuda (CUDA-event timing, 2:4 semi-structured)")
    count, failed = 0, []
    for _, cell, seed, record in done_runs(specs, store, only):
        label = f"{cell.method}/{cell.model} s={cell.sparsity:g} seed={seed}"
        try:
            rec = measure_run(cell, seed, record, run_dir(results, cell.id, seed), settings)
        except RuntimeError as exc:
            failed.append(f"{label}: {exc}")
            echo(f"{label}: not measured: {exc}")
            continue
        stored.put(store, cell.id, seed, timing.machine_key(rec["machine"]), rec)
        echo(summary_line(label, rec))
        count += 1
    return count, failed


def bound(sparsity: float) -> float:
    """The MAC limit of the speedup at ``sparsity``: 1 / (1 - s) (infinite at 1)."""
    return math.inf if sparsity >= 1 else 1.0 / (1.0 - sparsity)
