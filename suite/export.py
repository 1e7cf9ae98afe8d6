"""Stored results as flat CSV tables, one row per run, epoch, mask update or layer
(``suite export``), for analyses the reports do not make.

Tables (every one starts with the columns that name the run: spec, cell id, method,
model, dataset, target sparsity, seed):

- ``runs``: every (cell, seed) the specs declare, with its status, final and best
  metrics, achieved sparsity, parameters and MACs kept, timing, attempts, where it ran
  (git commit, device, threads, host), how it computed (the precision it trained in,
  TF32, torch.compile, the CPU model and ``torch.backends.cpu.get_cpu_capability()``,
  the GPU model) and which files it read (layout, root and a fingerprint of the data
  files: cell ids leave data paths out);
- ``curves``: one row per epoch of every finished run, with its round (1 but in runs of
  several rounds, lottery tickets) and its epoch counted over the whole run;
- ``flips``: one row per mask update of every finished run whose mask moves;
- ``layers``: one row per prunable layer of every finished run, with its achieved
  sparsity;
- ``speed``: one row per measured run, machine and batch size (``suite measure``):
  median, p10 and p90 times of the dense, masked and pruned models, the speedup, MACs
  and the machine (CPU model and capability, threads, load).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from suite import runs as per_run
from suite.filters import select
from suite.spec import Spec
from suite.speed.table import speed as speed_table
from suite.store import Store
from suite.tuning import swept_frame

KEY_COLUMNS = per_run.KEY_COLUMNS
RUN_COLUMNS = per_run.RUN_COLUMNS
LAYER_COLUMNS = KEY_COLUMNS + ["layer", "achieved_sparsity"]


def runs(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per (cell, seed) that ``spec`` declares, stored or not."""
    return per_run.frame(spec, store)


def curves(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per epoch of every finished run of ``spec``."""
    return per_run.details(spec, store)[0]


def flips(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per mask update of every finished run of ``spec`` whose mask moves."""
    return per_run.details(spec, store)[1]


def layers(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per prunable layer of every finished run of ``spec``."""
    rows = [{**per_run.run_key(spec, cell, seed), "layer": name, "achieved_sparsity": value}
            for cell, seed, record in per_run.done_records(spec, store)
            for name, value in record.per_layer.items()]
    return swept_frame(spec, rows, LAYER_COLUMNS)


def speed(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per measured run, machine and batch size (``suite measure``)."""
    return speed_table(spec, store)


#: ``suite export --table NAME``: the table builders, by name.
TABLES: dict[str, Callable[[Spec, Store | None], pd.DataFrame]] = {
    "runs": runs, "curves": curves, "flips": flips, "layers": layers, "speed": speed}


def export(specs: list[Spec], store: Store | None, table: str,
           only: dict[str, set[str]] | None = None) -> str:
    """The ``table`` of every spec in ``specs``, concatenated, as CSV text; ``only``
    (parsed ``--only`` filters, see :mod:`suite.filters`) keeps the rows it matches."""
    if table not in TABLES:
        raise ValueError(f"table = {table!r}; known tables: {', '.join(TABLES)}")
    frames = [TABLES[table](spec, store) for spec in specs]
    if only:
        frames = [select(f, only) for f in frames]
    return pd.concat(frames, ignore_index=True).to_csv(index=False)
