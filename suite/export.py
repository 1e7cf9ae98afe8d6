"""Stored results as flat CSV tables, one row per run, epoch, mask update or layer
(``suite export``), for analyses the reports do not make.

Tables (every one starts with the columns that name the run: spec, cell id, method,
model, dataset, target sparsity, seed):

- ``runs``: every (cell, seed) the specs declare, with its status, final and best
  metrics, achieved sparsity, parameters and MACs kept, timing, attempts, where it ran
  (git commit, device, threads, host) and which files it read (layout, root and a
  fingerprint of the data files: cell ids leave data paths out);
- ``curves``: one row per epoch of every finished run;
- ``flips``: one row per mask update of every finished run whose mask moves;
- ``layers``: one row per prunable layer of every finished run, with its achieved
  sparsity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from suite import report
from suite.result import check_format
from suite.spec import Spec
from suite.store import Store

KEY_COLUMNS = ["spec", "cell_id", "method", "model", "dataset", "sparsity", "seed"]
RUN_COLUMNS = KEY_COLUMNS + [
    "status", "attempts", "top1", "best_top1", "top5", "test_loss", "train_loss",
    "achieved_sparsity", "off_target", "params_total", "params_kept", "macs_total", "macs_kept",
    "wall_seconds", "train_seconds", "images_per_second", "started", "finished",
    "git_commit", "device", "device_name", "threads", "host",
    "data_layout", "data_root", "data_fingerprint", "error"]
LAYER_COLUMNS = KEY_COLUMNS + ["layer", "achieved_sparsity"]


INTEGER_COLUMNS = ["seed", "attempts", "params_total", "params_kept", "macs_total", "macs_kept",
                   "threads"]


def _iso(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def runs(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per (cell, seed) that ``spec`` declares, stored or not."""
    stored = store.runs() if store is not None else {}
    rows = []
    for cell, seed in report.declared_runs(spec):
        run = stored.get((cell.id, seed))
        row: dict[str, Any] = {**report.run_key(spec, cell, seed),
                               "status": run.status if run else "pending",
                               "attempts": run.attempts if run else 0}
        if run is not None:
            row.update(started=_iso(run.started), finished=_iso(run.finished), error=run.error)
        if run is not None and run.status == "done" and run.result:
            record = check_format(run.result)
            m, s = record["metrics"], record["sparsity"]
            timing, prov = record.get("timing", {}), record.get("provenance", {})
            row.update({k: m.get(k) for k in ("top1", "best_top1", "top5", "test_loss", "train_loss")})
            row.update(achieved_sparsity=s["overall"], off_target=bool(s["off_target"]),
                       **{k: s.get(k) for k in ("params_total", "params_kept", "macs_total", "macs_kept")})
            row.update({k: timing.get(k) for k in ("wall_seconds", "train_seconds", "images_per_second")})
            row.update({k: prov.get(k) for k in ("git_commit", "device", "device_name", "threads", "host")})
            row.update({f"data_{k}": v for k, v in (prov.get("data") or {}).items()
                        if f"data_{k}" in RUN_COLUMNS})
        rows.append(row)
    # nullable integers, so that a pending run's blanks do not turn counts into floats
    return pd.DataFrame(rows, columns=RUN_COLUMNS).astype({c: "Int64" for c in INTEGER_COLUMNS})


def curves(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per epoch of every finished run of ``spec``."""
    return report.details(spec, store)[0]


def flips(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per mask update of every finished run of ``spec`` whose mask moves."""
    return report.details(spec, store)[1]


def layers(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per prunable layer of every finished run of ``spec``."""
    rows = [{**report.run_key(spec, cell, seed), "layer": name, "achieved_sparsity": value}
            for cell, seed, record in report.done_records(spec, store)
            for name, value in (record["sparsity"].get("per_layer") or {}).items()]
    return pd.DataFrame(rows, columns=LAYER_COLUMNS)


#: ``suite export --table NAME``: the table builders, by name.
TABLES: dict[str, Callable[[Spec, Store | None], pd.DataFrame]] = {
    "runs": runs, "curves": curves, "flips": flips, "layers": layers}


def export(specs: list[Spec], store: Store | None, table: str) -> str:
    """The ``table`` of every spec in ``specs``, concatenated, as CSV text."""
    if table not in TABLES:
        raise ValueError(f"table = {table!r}; known tables: {', '.join(TABLES)}")
    frames = [TABLES[table](spec, store) for spec in specs]
    return pd.concat(frames, ignore_index=True).to_csv(index=False)
