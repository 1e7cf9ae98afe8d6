"""From the per-run frame to the paper's table layout (:func:`summarize`).

Each cell's seeds become a :class:`~suite.report.model.Summary`; methods without a
sparsity axis (dense) fill every row of their model as the baseline; the best pruning
method of a row is marked; failed, missing and off-target seeds get footnotes; a
swept spec's runs are first cut to the chosen values and split columns
(:mod:`suite.tuning`).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pandas as pd

from methods import METHODS
from suite.catalog import label as plugin_label
from suite.errors import SpecError
from suite.report.against import rows as against_best_rows
from suite.report.model import Comparison, Footnote, Group, Row, Summary, Table
from suite.spec import ReportLayout, Spec
from suite.tuning import Prepared, prepare


def _summary(runs: list[dict[str, Any]], metric: str) -> Summary:
    """The summary of one cell's runs (rows of the per-run frame, as dicts)."""
    def present(v: Any) -> bool:
        return v is not None and not pd.isna(v)

    done = [r for r in runs if r["status"] == "done"]
    values = [float(r[metric]) for r in done if present(r[metric])]
    count = Counter(r["status"] for r in runs)
    precisions = Counter(str(r["precision"]) for r in done if present(r["precision"]))
    s = Summary(n=len(values), failed=count["failed"], missing=count["pending"],
                running=count["running"],
                off_target=sum(bool(r["off_target"]) for r in done if present(r["off_target"])),
                values=values, target=float(runs[0]["sparsity"]) if runs else 0.0,
                precisions=dict(precisions.most_common()))
    if values:
        s.mean = math.fsum(values) / len(values)
        if len(values) > 1:
            s.std = math.sqrt(math.fsum((v - s.mean) ** 2 for v in values) / (len(values) - 1))
        achieved = [float(r["achieved_sparsity"]) for r in done if present(r["achieved_sparsity"])]
        s.achieved_sparsity = math.fsum(achieved) / len(achieved) if achieved else math.nan
    return s


def _uses_sparsity(method: str, df: pd.DataFrame) -> bool:
    try:
        return bool(METHODS.get(method).uses_sparsity)
    except Exception:  # noqa: BLE001 - a method no longer registered: judge by its cells
        return not (df.loc[df["method"] == method, "sparsity"] == 0).all()


def _groups(records: list[dict[str, Any]], columns: list[str]) -> dict[tuple, list[dict[str, Any]]]:
    """The per-run records by their values in ``columns``, each group in frame order."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(tuple(r[c] for c in columns), []).append(r)
    return groups


def summarize(spec: Spec, df: pd.DataFrame) -> Table:
    """Lay ``df`` out as the spec's table: one column per method; ``dense`` (which has no
    sparsity axis) is shown in every row of its model and dataset, as the baseline."""
    layout: ReportLayout = spec.report
    metric = layout.metric
    declared = df  # every run of the grid, tuned values not chosen included: the totals
    prepared = prepare(spec, df)
    df = prepared.runs
    if metric == "top5" and df["top5"].isna().all() and (df["status"] == "done").any():
        raise SpecError(f"{spec.path}: report.metric = 'top5' but no result has top-5 "
                        "(it is measured for datasets with more than 10 classes)")
    methods = list(dict.fromkeys(df["method"]))
    baselines = [m for m in methods if not _uses_sparsity(m, df)]
    pruning = [m for m in methods if m not in baselines]
    keys = list(layout.rows)
    group_columns = [k for k in keys if k != "sparsity"]
    sparse = df[df["method"].isin(pruning)] if pruning else df
    key_frame = sparse[keys].drop_duplicates()
    group_order: dict[tuple, int] = {}
    for _, key_row in key_frame.iterrows():
        group_order.setdefault(tuple(key_row[k] for k in group_columns), len(group_order))
    ordered = sorted(
        (dict(zip(keys, (r[k] for k in keys), strict=True)) for _, r in key_frame.iterrows()),
        key=lambda key: (group_order[tuple(key[k] for k in group_columns)],
                         float(key.get("sparsity", 0.0))))
    references = {ref.key: ref for ref in spec.references}
    # each cell's runs looked up, not filtered out of the whole frame per cell: a grid of
    # 10,000 cells would otherwise compare every run with every cell
    records = df.to_dict("records")
    by_cell = _groups(records, ["method", *keys])
    by_group = _groups(records, ["method", *group_columns])
    rows = []
    for key in ordered:
        cells = {}
        for method in methods:
            if method in baselines:  # no sparsity axis (dense): it fills every sparsity row
                runs = by_group.get((method, *(key[k] for k in group_columns)))
            else:
                runs = by_cell.get((method, *(key[k] for k in keys)))
            if runs:
                s = _summary(runs, metric)
                s.reference = _reference_for(references, method, key, s.target, metric)
                s.chosen = prepared.chosen.get(str(runs[0]["cell_id"]), "")
                cells[method] = s
        rows.append(Row(key, cells, *_best(cells, pruning, layout.precision)))

    groups: list[Group] = []
    for row in rows:
        gkey = {k: row.key[k] for k in group_columns}
        if not groups or groups[-1].key != gkey:
            groups.append(Group(gkey, [], {m: row.cells[m] for m in baselines if m in row.cells},
                                _params(df, gkey)))
        groups[-1].rows.append(row)

    constant = {k: key_frame[k].iloc[0] for k in group_columns
                if len(key_frame) and key_frame[k].nunique() == 1}
    totals = {status: int((declared["status"] == status).sum())
              for status in ("done", "failed", "running", "pending")}
    table = Table(spec.name, layout.title or spec.name, metric, methods, keys, rows,
                  layout.precision, spec.description, totals, groups=groups,
                  group_columns=group_columns, baselines=baselines, pruning=pruning,
                  constant=constant, labels=_labels(layout, prepared), seeds=len(spec.seeds),
                  prepared=prepared if spec.sweeps else None)
    _assign_footnotes(table)
    _compare(table, spec, df)
    if layout.against_best:
        table.against = against_best_rows(table)
    return table


def _labels(layout: ReportLayout, prepared: Prepared) -> dict[str, str]:
    """``[report.labels]`` and the labels of split method columns, ``DPF (reprune_every 4)``."""
    labels = layout.label_map
    for name, (method, suffix) in prepared.columns.items():
        base = labels.get(method) or plugin_label(method)
        labels.setdefault(name, f"{base} ({suffix})")
    return labels


def _reference_for(references: dict, method: str, key: dict[str, Any], target: float,
                   metric: str) -> Any:
    if "model" not in key or "dataset" not in key:
        return None
    return references.get((method, key["model"], key["dataset"], round(target, 9), metric))


def _best(cells: dict[str, Summary], pruning: list[str], precision: int) -> tuple[str | None, list[str]]:
    scored = {m: s.mean for m, s in cells.items() if s.mean is not None and m in pruning}
    if not scored:
        return None, []
    best = max(scored, key=scored.get)
    top = round(scored[best], precision)
    return best, [m for m, v in scored.items() if round(v, precision) == top]


def _params(df: pd.DataFrame, gkey: dict[str, Any]) -> int | None:
    if "model" not in gkey:
        return None
    sel = df["status"] == "done"
    for k, v in gkey.items():
        sel &= df[k] == v
    counts = df.loc[sel, "params_total"].dropna()
    return int(counts.iloc[0]) if len(counts) else None


def _mark(index: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = letters[rem] + out
    return out


def _assign_footnotes(table: Table) -> None:
    """Give every distinct footnote text a mark, in reading order (row by row)."""
    marks: dict[str, str] = {}

    def mark(s: Summary) -> None:
        s.marks = []
        for text in s.footnotes():
            if text not in marks:
                marks[text] = _mark(len(marks))
                table.footnotes.append(Footnote(marks[text], text))
            s.marks.append(marks[text])

    for group in table.groups:
        for s in group.baseline.values():
            mark(s)
        for row in group.rows:
            for method in table.methods:
                if method in row.cells:
                    mark(row.cells[method])


def _compare(table: Table, spec: Spec, df: pd.DataFrame) -> None:
    for ref in spec.references:
        sel = ((df["method"] == ref.method) & (df["model"] == ref.model)
               & (df["dataset"] == ref.dataset) & ((df["sparsity"] - ref.sparsity).abs() < 1e-9))
        if not sel.any():
            continue
        if ref.source not in table.sources:
            table.sources.append(ref.source)
        reproduced = _summary(df[sel].to_dict("records"), ref.metric)
        reproduced.reference = ref
        key = {"dataset": ref.dataset, "model": ref.model, "sparsity": ref.sparsity}
        table.comparisons.append(Comparison(key, ref.method, ref.metric, reproduced, ref,
                                            table.sources.index(ref.source) + 1))
