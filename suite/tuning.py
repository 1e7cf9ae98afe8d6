"""Sweep axes in reports: model selection on validation and method columns split by option.

Two steps turn the per-run frame of a swept spec into what the table lays out:

- :func:`choose` applies ``[select]``: within every group of cells that differ only in the
  tuned option paths, the values with the best mean validation metric over the finished
  seeds are kept, and the others dropped. The test metric of the kept cell is what the
  table shows, with the chosen values beside it; the test set never takes part.
- :func:`split_columns` renames the ``method`` of each run for the option paths of
  ``[report] columns`` (``dpf`` -> ``dpf[reprune_every=4]``), so that each value is a
  column of its own, labelled ``DPF (reprune_every 4)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from suite.spec import Spec
from suite.sweeps import value_text

#: The per-run columns ``[select] by`` reads (validation metrics of the result record).
VALIDATION_COLUMNS = ["val_top1", "val_loss"]


@dataclass
class Prepared:
    """A swept spec's per-run frame as the table lays it out, and what was decided."""

    runs: pd.DataFrame
    #: cell id -> the text of its chosen values, e.g. "lr 0.1 by val_top1"
    chosen: dict[str, str] = field(default_factory=dict)
    #: column name -> label suffix, e.g. "dpf[reprune_every=4]" -> "reprune_every 4"
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)


def sweep_columns(spec: Spec) -> list[str]:
    """The per-run columns of a spec's sweep axes: one per option path."""
    return [s.path.text for s in spec.sweeps]


def with_sweeps(spec: Spec, columns: list[str]) -> list[str]:
    """``columns`` (a table that starts with the run key) with the spec's sweep axes
    after the cell's axes, and its validation metrics when it has a validation split."""
    if "seed" not in columns:
        return columns
    at = columns.index("seed")
    out = columns[:at] + sweep_columns(spec) + columns[at:]
    if has_validation(spec) and "top1" in columns:
        out[out.index("top1"):out.index("top1")] = VALIDATION_COLUMNS
    return out


def swept_frame(spec: Spec, rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """``rows`` as a table of ``columns`` plus the spec's sweep columns, which keep their
    values' types (an integer option stays an integer) and hold None where an option
    does not apply (not NaN, which never equals itself, so rows could not be looked up)."""
    df = pd.DataFrame(rows, columns=with_sweeps(spec, columns))
    for name in sweep_columns(spec):
        df[name] = pd.Series([r.get(name) for r in rows], index=df.index, dtype=object)
    return df


def has_validation(spec: Spec) -> bool:
    """Whether some cell of the spec holds out a validation split (or [select] needs one)."""
    if spec.select is not None:
        return True
    swept = [v for s in spec.sweeps if s.path.text == "train.val_fraction" for v in s.values]
    recipes = [spec.recipe_for(m, d) for m in spec.axes["model"] for d in spec.axes["dataset"]]
    return any(v > 0 for v in swept) or any(getattr(r, "val_fraction", 0.0) > 0 for r in recipes)


def prepare(spec: Spec, runs: pd.DataFrame) -> Prepared:
    """:func:`choose`, then :func:`split_columns`; a spec without sweeps passes unchanged."""
    if not spec.sweeps:
        return Prepared(runs)
    kept, chosen = choose(spec, runs)
    split, columns = split_columns(spec, kept)
    return Prepared(split, chosen, columns)


def _candidates(group: pd.DataFrame, tuned: list[str]) -> list[tuple[tuple, pd.DataFrame]]:
    """The group's runs by their tuned values, in grid order (missing values kept)."""
    keys = group[tuned].astype(object).where(group[tuned].notna(), None)
    order: dict[tuple, list[int]] = {}
    for index, values in zip(group.index, keys.itertuples(index=False, name=None), strict=True):
        order.setdefault(values, []).append(index)
    return [(k, group.loc[rows]) for k, rows in order.items()]


def choose(spec: Spec, runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The runs of the chosen cells, and the note of each chosen cell (see module doc).

    A candidate scores the mean of ``by`` over its finished seeds; ties go to the value
    listed first. A group none of whose candidates has finished keeps its first one (it
    shows as missing). The note says when the choice was made before every candidate's
    seeds had finished.
    """
    select = spec.select
    if select is None or runs.empty:
        return runs, {}
    tuned = list(select.tune)
    shown = [c for c in sweep_columns(spec) if c not in tuned]
    group_by = ["method", "model", "dataset", "sparsity", *shown]
    paths = {s.path.text: s.path for s in spec.sweeps}
    keep: list[int] = []
    notes: dict[str, str] = {}
    for _, group in runs.groupby(group_by, dropna=False, sort=False):
        candidates = _candidates(group, tuned)
        scores = {}
        for i, (_, c) in enumerate(candidates):
            done = c[(c["status"] == "done") & c[select.by].notna()]
            if len(done):
                scores[i] = float(done[select.by].astype(float).mean())
        best = select.better(scores, key=scores.get) if scores else 0
        values, rows = candidates[best]
        keep += list(rows.index)
        if len(candidates) < 2:
            continue
        text = ", ".join(f"{paths[p].short} {value_text(v)}" for p, v in zip(tuned, values, strict=True)
                         if v is not None)
        if not scores:
            names = ", ".join(paths[p].short for p in tuned)
            text = f"{names} not chosen yet: no {select.by} finished"
        else:
            text += f" by {select.by}"
            finished = int((group["status"] == "done").sum())
            if finished < len(group):
                text += f" ({finished} of {len(group)} runs done)"
        for cell in rows["cell_id"].unique():
            notes[str(cell)] = text
    return runs.loc[sorted(keep)], notes


def column_name(method: str, values: list[tuple[str, Any]]) -> str:
    """The table column of a method with the values of its column-splitting options."""
    if not values:
        return method
    return method + "[" + ",".join(f"{k}={value_text(v)}" for k, v in values) + "]"


def split_columns(spec: Spec, runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
    """Runs whose ``method`` names their column, and each split column's (method, suffix)."""
    paths = [s.path for s in spec.sweeps if s.path.text in spec.report.columns]
    if not paths or runs.empty:
        return runs, {}
    names, columns = [], {}
    for record in runs.to_dict("records"):
        values = [(p.short, record[p.text]) for p in paths
                  if record[p.text] is not None and not _isna(record[p.text])]
        name = column_name(record["method"], values)
        names.append(name)
        if values:
            columns[name] = (record["method"], ", ".join(f"{k} {value_text(v)}" for k, v in values))
    return runs.assign(method=names), columns


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def restrict(prepared: Prepared, table: pd.DataFrame) -> pd.DataFrame:
    """A per-epoch or per-update table cut to the kept cells, with their column names."""
    if "cell_id" not in table.columns:
        return table
    method_of = dict(zip(prepared.runs["cell_id"], prepared.runs["method"], strict=False))
    kept = table[table["cell_id"].isin(method_of)]
    return kept.assign(method=kept["cell_id"].map(method_of))
