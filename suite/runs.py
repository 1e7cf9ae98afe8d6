"""From the store to tables of runs: one row per run the spec declares (``frame``),
one per epoch and per mask update of the finished ones (``details``).

The per-run frame is what report tables summarize and what ``suite export`` writes;
both read the store through this module only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from suite.grid import expand
from suite.result import ResultRecord
from suite.spec import Spec
from suite.store import Store
from suite.tuning import swept_frame

#: The columns that name one run, first in every per-run table.
KEY_COLUMNS = ["spec", "cell_id", "method", "model", "dataset", "sparsity", "seed"]


RUN_COLUMNS = KEY_COLUMNS + [
    "status", "attempts", "top1", "best_top1", "top5", "test_loss", "train_loss",
    "achieved_sparsity", "off_target", "params_total", "params_kept", "macs_total", "macs_kept",
    "wall_seconds", "train_seconds", "images_per_second", "started", "finished",
    "git_commit", "device", "device_name", "threads", "host",
    "precision", "tf32", "compile", "cpu_name", "cpu_capability", "gpu_name",
    "data_layout", "data_root", "data_fingerprint", "error"]


INTEGER_COLUMNS = ["seed", "attempts", "params_total", "params_kept", "macs_total", "macs_kept",
                   "threads"]


CURVE_COLUMNS = KEY_COLUMNS + ["round", "epoch", "train_loss", "top1", "lr", "mask_sparsity"]


FLIP_COLUMNS = KEY_COLUMNS + ["step", "flip_ratio"]


def declared_runs(spec: Spec):
    """(cell, seed) of every run ``spec`` declares, in grid order."""
    for cell in expand(spec):
        for seed in spec.seeds:
            yield cell, seed


def run_key(spec: Spec, cell: Any, seed: int) -> dict[str, Any]:
    """The columns that name one run in every per-run table."""
    return {"spec": spec.name, "cell_id": cell.id, "method": cell.method, "model": cell.model,
            "dataset": cell.dataset, "sparsity": cell.sparsity,
            **{path.text: path.value(cell) for path in spec.sweep_paths}, "seed": seed}


def done_records(spec: Spec, store: Store | None) -> Iterator[tuple[Any, int, ResultRecord]]:
    """(cell, seed, result record) of every finished run the spec declares."""
    stored = store.runs() if store is not None else {}
    for cell, seed in declared_runs(spec):
        run = stored.get((cell.id, seed))
        record = run.record if run is not None else None
        if record is not None:
            yield cell, seed, record


def iso_time(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def frame(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per (cell, seed) the spec declares, stored or not (``RUN_COLUMNS``): its
    status, metrics, sparsity, timing and provenance. Tables summarize it; ``suite
    export --table runs`` writes it."""
    stored = store.runs() if store is not None else {}
    rows = []
    for cell, seed in declared_runs(spec):
        run = stored.get((cell.id, seed))
        row: dict[str, Any] = {**run_key(spec, cell, seed),
                               "status": run.status if run else "pending",
                               "attempts": run.attempts if run else 0}
        if run is not None:
            row.update(started=iso_time(run.started), finished=iso_time(run.finished), error=run.error)
        record = run.record if run is not None else None
        if record is not None:
            m, s, timing, prov = record.metrics, record.sparsity, record.timing, record.provenance
            row.update({k: m.get(k) for k in ("top1", "best_top1", "top5", "test_loss", "train_loss",
                                              "val_top1", "val_loss")})
            row.update(achieved_sparsity=s["overall"], off_target=bool(s["off_target"]),
                       **{k: s.get(k) for k in ("params_total", "params_kept", "macs_total", "macs_kept")})
            row.update({k: timing.get(k) for k in ("wall_seconds", "train_seconds", "images_per_second")})
            row.update({k: prov.get(k) for k in ("git_commit", "device", "device_name", "threads", "host")})
            row.update(numerics_columns(prov))
            row.update({f"data_{k}": v for k, v in (prov.get("data") or {}).items()
                        if f"data_{k}" in RUN_COLUMNS})
        rows.append(row)
    # nullable integers, so that a pending run's blanks do not turn counts into floats
    df = swept_frame(spec, rows, RUN_COLUMNS)
    return df.astype({c: "Int64" for c in INTEGER_COLUMNS})


def run_precision(prov: dict[str, Any]) -> str:
    """The precision a stored run computed in. Records from before it was recorded
    trained in fp32 on the torch backend, in their ``deepspeed_run`` precision on DeepSpeed."""
    return prov.get("precision") or (prov.get("deepspeed_run") or {}).get("precision") or "fp32"


def numerics_columns(prov: dict[str, Any]) -> dict[str, Any]:
    """The per-run columns of how a run computed: precision, tf32, compile, CPU model
    and capability, GPU model (the CPU model of older CPU records is their device name)."""
    cpu = prov.get("cpu_name") or (prov.get("device_name") if prov.get("device") == "cpu" else None)
    return {"precision": run_precision(prov), "tf32": prov.get("tf32"), "compile": prov.get("compile"),
            "cpu_name": cpu, "cpu_capability": prov.get("cpu_capability"),
            "gpu_name": prov.get("gpu_name")}


def run_epoch(point: dict[str, Any], epochs: int) -> Any:
    """A curve entry's epoch counted over the whole run: a run of several rounds
    (lottery tickets) numbers each round's epochs from 1, with the entry's ``round``."""
    if "round" in point:
        return (point["round"] - 1) * epochs + point["epoch"]
    return point.get("epoch")


def details(spec: Spec, store: Store | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-epoch curves and the mask flip ratios of every finished run of ``spec``."""
    curves, flips = [], []
    for cell, seed, record in done_records(spec, store):
        base = run_key(spec, cell, seed)
        for point in record.curve:
            curves.append({**base, "round": point.get("round", 1),
                           "epoch": run_epoch(point, cell.train.epochs),
                           "train_loss": point.get("train_loss"), "top1": point.get("top1"),
                           "lr": point.get("lr"), "mask_sparsity": point.get("sparsity"),
                           "val_top1": point.get("val_top1"), "val_loss": point.get("val_loss")})
        for flip in record.flips:
            flips.append({**base, "step": flip.get("step"), "flip_ratio": flip.get("flip_ratio")})
    return swept_frame(spec, curves, CURVE_COLUMNS), swept_frame(spec, flips, FLIP_COLUMNS)
