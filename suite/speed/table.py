"""Measurements as tables: ``suite export --table speed`` (one row per run, machine and
batch size) and the rows of the reports' speed table (one per cell, over its seeds).

Both read only the store; a store without measurements (schema version 2 and older,
or nothing measured yet) gives an empty table, and the reports then look as before.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from suite import runs as per_run
from suite.store import Store
from suite.store import measurements as stored

FORMS = ("dense", "masked", "pruned")
SPEED_COLUMNS = per_run.KEY_COLUMNS + [
    "machine", "measured", "form", "weights", "structure", "achieved_sparsity", "batch",
    *(f"{form}_{q}_ms" for form in FORMS for q in ("median", "p10", "p90")),
    "speedup", "speedup_masked", "macs_dense", "macs_pruned", "macs_kept", "mac_bound",
    "params_dense", "params_pruned", "max_abs_diff", "cpu_name", "cpu_capability", "threads",
    "gpu_name", "load_average"]


def _by_run(spec: Any, store: Store | None):
    measured = stored.read(store)
    if not measured:
        return
    for cell, seed, _ in per_run.done_records(spec, store):
        for rec in measured.get((cell.id, seed), []):
            yield cell, seed, rec


def speed(spec: Any, store: Store | None) -> pd.DataFrame:
    """One row per (run, machine, batch size) measured: medians and p10/p90 in ms of the
    dense, masked and pruned models, the speedup (dense / pruned median), MACs and the
    machine the figures belong to."""
    rows = []
    for cell, seed, rec in _by_run(spec, store):
        m, macs = rec.get("machine", {}), rec.get("macs", {})
        base = {**per_run.run_key(spec, cell, seed), "machine": rec.get("machine_key", ""),
                "measured": per_run.iso_time(rec.get("measured")), "form": rec.get("form"),
                "weights": rec.get("weights"), "structure": rec.get("structure"),
                "achieved_sparsity": rec.get("sparsity"), "macs_dense": macs.get("dense"),
                "macs_pruned": macs.get("pruned"),
                "macs_kept": macs["pruned"] / macs["dense"] if macs.get("dense") else None,
                "mac_bound": macs["dense"] / macs["pruned"] if macs.get("pruned") else None,
                "params_dense": rec.get("params", {}).get("dense"),
                "params_pruned": rec.get("params", {}).get("pruned"),
                "max_abs_diff": rec.get("check", {}).get("max_abs_diff"),
                **{k: m.get(k) for k in ("cpu_name", "cpu_capability", "threads", "gpu_name")},
                "load_average": " ".join(f"{v:.2f}" for v in m.get("load_average") or [] if v is not None)}
        for batch, timings in rec.get("timings", {}).items():
            row = {**base, "batch": int(batch), "speedup": rec["speedup"].get(batch),
                   "speedup_masked": rec.get("speedup_masked", {}).get(batch)}
            for form in FORMS:
                for q in ("median", "p10", "p90"):
                    value = timings.get(form, {}).get(q)
                    row[f"{form}_{q}_ms"] = None if value is None else 1e3 * value
            rows.append(row)
    frame = pd.DataFrame(rows, columns=SPEED_COLUMNS)
    return frame.astype({"seed": "Int64", "batch": "Int64", "threads": "Int64"})


@dataclass
class SpeedRow:
    """One cell of a report's speed table: the newest measurement of each of its seeds,
    averaged (MACs kept, speedup per batch size)."""

    key: dict[str, Any]
    method: str
    form: str
    n: int
    macs_kept: float | None
    speedup: dict[int, float] = field(default_factory=dict)
    machine: str = ""
    weights: str = "trained"

    def speedup_text(self, batches: list[int]) -> str:
        """E.g. '1.92× / 2.61×' in the order of ``batches`` ('—' where not measured)."""
        return " / ".join(f"{self.speedup[b]:.2f}×" if b in self.speedup else "—" for b in batches)


def rows(spec: Any, store: Store | None, cell_ids: set[str] | None = None) -> list[SpeedRow]:
    """The speed table of ``spec``: one row per measured cell (of ``cell_ids`` when
    given), in grid order."""
    newest: dict[str, list[tuple[Any, dict]]] = {}
    latest = {}
    for cell, seed, rec in _by_run(spec, store):
        if cell_ids is None or cell.id in cell_ids:
            latest[(cell.id, seed)] = (cell, rec)  # read() is oldest first: the last one stays
    for cell, rec in latest.values():
        newest.setdefault(cell.id, []).append((cell, rec))
    out = []
    for entries in newest.values():
        cell, first = entries[0]
        kept = [r["macs"]["pruned"] / r["macs"]["dense"] for _, r in entries if r["macs"].get("dense")]
        batches = sorted({int(b) for _, r in entries for b in r["speedup"]})
        speedup = {b: statistics.fmean(r["speedup"][str(b)] for _, r in entries if str(b) in r["speedup"])
                   for b in batches}
        key = {"dataset": cell.dataset, "model": cell.model, "sparsity": cell.sparsity}
        weights = "stand-in" if any(r["weights"] != "trained" for _, r in entries) else "trained"
        out.append(SpeedRow(key, cell.method, first["form"], len(entries),
                            statistics.fmean(kept) if kept else None, speedup,
                            first.get("machine_key", ""), weights))
    return out


def batches_of(speed_rows: list[SpeedRow]) -> list[int]:
    """The batch sizes any row was measured at, smallest first."""
    return sorted({b for r in speed_rows for b in r.speedup})
