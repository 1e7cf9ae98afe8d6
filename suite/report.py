"""From the store to tables and figures: ``frame`` (one row per run), ``summarize``
(mean +- std over seeds per cell, laid out like the paper's tables), ``details``
(training curves and mask flip ratios) and ``render`` (Jinja2 templates in
reports/templates, or CSV).

Failed and missing runs are never dropped: each summary counts them, and the LaTeX and
HTML tables give them a footnote, as they do for sparsity that missed its target.

The paper layout (LaTeX, HTML): models are row groups that carry their dense
accuracy, each row is a target sparsity, and each pruning method is a column; the best
pruning method of a row is in bold. Published values from the spec's
``[[reference]]`` tables are shown next to the reproduced ones with the difference.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from reports import TEMPLATES
from suite.errors import SpecError
from suite.grid import expand
from suite.latex import SUITEUNICODE, latex_escape
from suite.result import check_format
from suite.spec import ReportLayout, Spec, parse_spec, sparsity_text
from suite.store import Store
from suite.sweeps import value_text
from suite.tuning import Prepared, prepare, restrict, swept_frame

FORMATS = ("markdown", "html", "latex", "csv")
_TEMPLATE_FOR = {"markdown": "report.md.j2", "html": "report.html.j2", "latex": "report.tex.j2"}
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
CURVE_COLUMNS = KEY_COLUMNS + ["epoch", "train_loss", "top1", "lr", "mask_sparsity"]
FLIP_COLUMNS = KEY_COLUMNS + ["step", "flip_ratio"]

#: Names as printed in the paper-style tables and figures; ``[report.labels]`` overrides.
DEFAULT_LABELS = {
    "dense": "Dense", "dpf": "DPF", "snip": "SNIP", "sm": "SM", "dsr": "DSR",
    "oneshot": "One-shot P+FT", "incremental": "Incremental",
    "resnet20": "ResNet-20", "resnet32": "ResNet-32", "resnet56": "ResNet-56",
    "resnet50": "ResNet-50", "wrn28_2": "WRN-28-2", "wrn28_4": "WRN-28-4", "wrn28_8": "WRN-28-8",
    "vgg16": "VGG-16", "mlp": "MLP", "small_cnn": "Small CNN",
    "cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet",
    "fashion_mnist": "Fashion-MNIST",
}
METRIC_NAMES = {"top1": "top-1 test accuracy", "top5": "top-5 test accuracy",
                "best_top1": "best top-1 test accuracy during training"}


# ----- one row per run ------------------------------------------------------------------
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


def done_records(spec: Spec, store: Store | None):
    """(cell, seed, result record) of every finished run the spec declares."""
    stored = store.runs() if store is not None else {}
    for cell, seed in declared_runs(spec):
        run = stored.get((cell.id, seed))
        if run is not None and run.status == "done" and run.result:
            yield cell, seed, check_format(run.result)


def _iso(timestamp: float | None) -> str | None:
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
            row.update(started=_iso(run.started), finished=_iso(run.finished), error=run.error)
        if run is not None and run.status == "done" and run.result:
            record = check_format(run.result)
            m, s = record["metrics"], record["sparsity"]
            timing, prov = record.get("timing", {}), record.get("provenance", {})
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


def details(spec: Spec, store: Store | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-epoch curves and the mask flip ratios of every finished run of ``spec``."""
    curves, flips = [], []
    for cell, seed, result in done_records(spec, store):
        base = run_key(spec, cell, seed)
        for point in result.get("curve") or []:
            curves.append({**base, "epoch": point.get("epoch"), "train_loss": point.get("train_loss"),
                           "top1": point.get("top1"), "lr": point.get("lr"),
                           "mask_sparsity": point.get("sparsity")})
        for flip in result.get("flips") or []:
            flips.append({**base, "step": flip.get("step"), "flip_ratio": flip.get("flip_ratio")})
    return swept_frame(spec, curves, CURVE_COLUMNS), swept_frame(spec, flips, FLIP_COLUMNS)


# ----- summaries ------------------------------------------------------------------------
@dataclass
class Summary:
    """The seeds of one cell: mean and sample std of the metric, and what is missing."""

    mean: float | None = None
    std: float | None = None
    n: int = 0
    failed: int = 0
    missing: int = 0
    running: int = 0
    off_target: int = 0
    achieved_sparsity: float | None = None
    values: list[float] = field(default_factory=list)
    #: finished seeds per precision they trained in, e.g. {"fp32": 2, "bf16": 1}
    precisions: dict[str, int] = field(default_factory=dict)
    target: float = 0.0
    #: published value of this cell and metric, from the spec's [[reference]] tables
    reference: Any = None
    #: footnote marks ("a", "b", ...) given by :func:`summarize`
    marks: list[str] = field(default_factory=list)
    #: the values ``[select]`` chose for this cell, e.g. "lr 0.1 by val_top1"
    chosen: str = ""

    @property
    def seeds(self) -> int:
        return self.n + self.failed + self.missing + self.running

    @property
    def mixed_precision(self) -> str:
        """'' when the finished seeds share one precision, else e.g. '2 fp32, 1 bf16'."""
        if len(self.precisions) < 2:
            return ""
        return ", ".join(f"{n} {p}" for p, n in sorted(self.precisions.items(), key=lambda i: -i[1]))

    @property
    def delta(self) -> float | None:
        """Reproduced minus reference, when both exist."""
        if self.mean is None or self.reference is None:
            return None
        return self.mean - self.reference.value

    def text(self, precision: int, pm: str = " ± ") -> str:
        """E.g. '97.12 ± 0.35', '97.12' (one seed), '—' (no finished seed)."""
        if self.mean is None:
            return "—"
        if self.std is None:
            return f"{self.mean:.{precision}f}"
        return f"{self.mean:.{precision}f}{pm}{self.std:.{precision}f}"

    def notes(self) -> list[str]:
        out = [f"n={self.n}"] if self.n else []
        out += [f"{count} {word}" for count, word in ((self.failed, "failed"),
                (self.missing, "missing"), (self.running, "running")) if count]
        if self.mixed_precision:
            out.append(f"mixed precision: {self.mixed_precision}")
        if self.chosen:
            out.append(self.chosen)
        return out

    def footnotes(self) -> list[str]:
        """Why this cell needs a footnote: failed, missing or running seeds, sparsity
        off its target, seeds trained in different precisions. Empty for a complete,
        on-target, single-precision cell."""
        out = []
        total = self.seeds
        if self.failed:
            out.append(f"{self.failed} of {total} seeds failed")
        if self.missing:
            out.append(f"{self.missing} of {total} seeds not run yet")
        if self.running:
            out.append(f"{self.running} of {total} seeds still running")
        if self.off_target and self.achieved_sparsity is not None:
            which = "" if self.off_target == self.n else f" in {self.off_target} of {self.n} seeds"
            out.append(f"sparsity off target{which}: {100 * self.achieved_sparsity:.1f}% "
                       f"achieved for {100 * self.target:g}%")
        if self.mixed_precision:
            out.append(f"seeds trained in mixed precisions: {self.mixed_precision}")
        if self.chosen:
            out.append(f"chosen on validation: {self.chosen}")
        return out


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
        s.mean = sum(values) / len(values)
        if len(values) > 1:
            s.std = math.sqrt(sum((v - s.mean) ** 2 for v in values) / (len(values) - 1))
        achieved = [float(r["achieved_sparsity"]) for r in done if present(r["achieved_sparsity"])]
        s.achieved_sparsity = sum(achieved) / len(achieved) if achieved else math.nan
    return s


@dataclass
class Row:
    """One table row: its key values (dataset, model, sparsity) and a Summary per method.
    ``best`` is the best pruning method, ``bests`` every method tied with it at the
    table's precision."""

    key: dict[str, Any]
    cells: dict[str, Summary]
    best: str | None = None
    bests: list[str] = field(default_factory=list)


@dataclass
class Group:
    """Rows that share every key but the sparsity (in the paper: one model), with the
    summaries of the methods that have no sparsity axis (dense) and the model's size."""

    key: dict[str, Any]
    rows: list[Row]
    baseline: dict[str, Summary]
    params: int | None = None


@dataclass
class Comparison:
    """A reproduced cell next to its published value."""

    key: dict[str, Any]
    method: str
    metric: str
    reproduced: Summary
    reference: Any
    source: int  # 1-based index into Table.sources

    @property
    def delta(self) -> float | None:
        return None if self.reproduced.mean is None else self.reproduced.mean - self.reference.value


@dataclass
class Footnote:
    mark: str
    text: str


@dataclass
class ReportFigure:
    """One figure of a table: matplotlib figure, where it was written, how to embed it."""

    stem: str
    kind: str  # accuracy | curves | flips
    caption: str
    panels: int
    figure: Any = None
    uri: str = ""  # data: URI of the SVG, for the standalone HTML
    files: list[str] = field(default_factory=list)  # written files (PDF first)
    include: str = ""  # the PDF path as the LaTeX document should \includegraphics it


@dataclass
class Table:
    """A report table: rows x methods, for one spec."""

    spec: str
    title: str
    metric: str
    methods: list[str]
    key_columns: list[str]
    rows: list[Row]
    precision: int
    description: str = ""
    totals: dict[str, int] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)
    group_columns: list[str] = field(default_factory=list)
    baselines: list[str] = field(default_factory=list)
    pruning: list[str] = field(default_factory=list)
    constant: dict[str, Any] = field(default_factory=dict)
    footnotes: list[Footnote] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    seeds: int = 0
    figures: list[ReportFigure] = field(default_factory=list)
    #: measured speed per cell (``suite measure``, suite/speed/table.py); empty without
    speed: list[Any] = field(default_factory=list)
    #: a swept spec's runs as laid out (selection, split columns), for the figures
    prepared: Prepared | None = None

    # helpers for templates
    def label(self, name: Any) -> str:
        """The printed name of a method, model or dataset."""
        return self.labels.get(str(name)) or DEFAULT_LABELS.get(str(name), str(name))

    def key_text(self, key: dict[str, Any], column: str) -> str:
        value = key[column]
        if "." in column:  # a swept option
            return "—" if value is None else value_text(value)
        return format_key(value, column) if column == "sparsity" else self.label(value)

    def column_title(self, column: str) -> str:
        """A key column's header: 'Model', or the option's name ('lr') for a swept path."""
        return column.rsplit(".", 1)[-1] if "." in column else column.capitalize()

    def value_label(self, key: dict[str, Any], column: str) -> str:
        """A row group's value as its label prints it: a name, or ``lr 0.1`` for an option."""
        if "." in column:
            return f"{column.rsplit('.', 1)[-1]} {self.key_text(key, column)}"
        return self.label(key[column])

    def params_text(self, group: Group) -> str:
        """The model's parameter count, e.g. '0.27M' ('' when unknown)."""
        return format_params(group.params) if group.params and "model" in group.key else ""

    def group_cell(self, group: Group, column: str) -> str:
        """A row group's value in one of its columns; the model gets its size."""
        text = self.key_text(group.key, column) if "." in column else self.label(group.key[column])
        if column == "model" and self.params_text(group):
            text += f" ({self.params_text(group)})"
        return text

    def group_label(self, group: Group, with_params: bool = True) -> str:
        """E.g. 'ResNet-20 (0.27M)', or 'CIFAR-10 / ResNet-20' when datasets vary."""
        shown = [c for c in self.group_columns if c not in self.constant or c == "model"]
        text = " / ".join(self.value_label(group.key, c) for c in shown) or self.title
        if with_params and group.params and "model" in group.key:
            text += f" ({format_params(group.params)})"
        return text

    @property
    def shown_group_columns(self) -> list[str]:
        return [c for c in self.group_columns if c not in self.constant or c == "model"]

    @property
    def context(self) -> str:
        """The constant axes, e.g. 'CIFAR-10', for captions."""
        return ", ".join(self.label(v) for c, v in self.constant.items() if c != "model")

    @property
    def metric_name(self) -> str:
        return METRIC_NAMES.get(self.metric, self.metric)

    @property
    def any_off_target(self) -> bool:
        """Whether some cell's achieved sparsity is off its target (the legend of †)."""
        return any(s.off_target for row in self.rows for s in row.cells.values())

    @property
    def has_sparsity(self) -> bool:
        """True when rows are target sparsities (some method prunes)."""
        return "sparsity" in self.key_columns and bool(self.pruning)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.spec.lower()).strip("-") or "table"

    def figures_of(self, kind: str) -> list[ReportFigure]:
        return [f for f in self.figures if f.kind == kind]

    @property
    def speed_batches(self) -> list[int]:
        """The batch sizes of the speed table, smallest first."""
        return sorted({b for r in self.speed for b in r.speedup})


def format_params(count: int) -> str:
    """As the paper prints model sizes: '0.27M', '1.47M', '25.6M'; '52K' below 0.1M."""
    if count >= 1e5:
        return f"{count / 1e6:.{2 if count < 1e7 else 1}f}M"
    return f"{count / 1e3:.0f}K"


def _uses_sparsity(method: str, df: pd.DataFrame) -> bool:
    try:
        from methods import METHODS

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
    totals = {status: int((df["status"] == status).sum())
              for status in ("done", "failed", "running", "pending")}
    table = Table(spec.name, layout.title or spec.name, metric, methods, keys, rows,
                  layout.precision, spec.description, totals, groups=groups,
                  group_columns=group_columns, baselines=baselines, pruning=pruning,
                  constant=constant, labels=_labels(layout, prepared), seeds=len(spec.seeds),
                  prepared=prepared if spec.sweeps else None)
    _assign_footnotes(table)
    _compare(table, spec, df)
    return table


def _labels(layout: ReportLayout, prepared: Prepared) -> dict[str, str]:
    """``[report.labels]`` and the labels of split method columns, ``DPF (reprune_every 4)``."""
    labels = layout.label_map
    for name, (method, suffix) in prepared.columns.items():
        base = labels.get(method) or DEFAULT_LABELS.get(method, method)
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


# ----- rendering ------------------------------------------------------------------------
def _env(template_dir: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=lambda name: bool(name) and ".htm" in name)
    env.filters["latex"] = latex_escape
    env.filters["key"] = format_key
    env.filters["signed"] = signed
    env.globals["suiteunicode"] = SUITEUNICODE
    return env


def format_key(value: Any, column: str) -> str:
    """A row-key value as shown: sparsity as a percentage, names as they are."""
    if column == "sparsity":
        return sparsity_text(value)
    return str(value)


def signed(value: float | None, precision: int = 2) -> str:
    """'+0.35', '−1.20' (a minus sign, not a hyphen), '—' for None."""
    if value is None:
        return "—"
    text = f"{value:+.{precision}f}"
    return text.replace("-", "−")


def render(tables: list[Table], fmt: str, template: str | Path | None = None, *,
           title: str | None = None, description: str = "", standalone: bool = False) -> str:
    """Render ``tables`` in ``fmt`` (markdown, html, latex, csv). ``standalone`` makes
    the LaTeX output a whole document (otherwise a fragment to ``\\input``)."""
    if fmt not in FORMATS:
        raise SpecError(f"--format {fmt!r} is not known; use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return _csv(tables)
    if template is not None:
        path = Path(template)
        if not path.is_file():
            raise SpecError(f"--template {path}: no such file")
    if title is None:
        title = ", ".join(t.title for t in tables)
    context = {"tables": tables, "title": title, "description": description,
               "standalone": standalone}
    if template is None:
        return _env(None).get_template(_TEMPLATE_FOR[fmt]).render(**context)
    try:
        return _env(path.parent).get_template(path.name).render(**context)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's template is reported
        from suite import template_errors

        raise SpecError(template_errors.describe(exc, path)) from None


def _csv(tables: list[Table]) -> str:
    records = []
    for t in tables:
        for row in t.rows:
            for method, s in row.cells.items():
                ref = s.reference
                records.append({"spec": t.spec, **row.key, "method": method, "metric": t.metric,
                                "mean": s.mean, "std": s.std, "n": s.n, "failed": s.failed,
                                "missing": s.missing, "running": s.running,
                                "achieved_sparsity": s.achieved_sparsity,
                                "off_target": s.off_target, "values": " ".join(f"{v:.4f}" for v in s.values),
                                "precision": " ".join(sorted(s.precisions)) or None,
                                "reference": ref.value if ref else None,
                                "reference_std": ref.std if ref else None,
                                "delta": s.delta, "source": ref.source if ref else None,
                                **_speed_columns(t, row.key, method)})
    return pd.DataFrame(records).to_csv(index=False)


def _speed_columns(table: Table, key: dict[str, Any], method: str) -> dict[str, Any]:
    """A CSV line's measured columns (only when the table has measurements): MACs kept
    and the speedup at each batch size of the cell."""
    if not table.speed:
        return {}
    out: dict[str, Any] = {"macs_kept": None, **{f"speedup_batch_{b}": None for b in table.speed_batches}}
    for r in table.speed:
        if r.method == method and all(r.key.get(k) == v for k, v in key.items() if k in r.key):
            out["macs_kept"] = r.macs_kept
            out.update({f"speedup_batch_{b}": v for b, v in r.speedup.items()})
    return out


def stored_specs(store: Store) -> list[Spec]:
    """The specs that produced the store's results, as they were when run."""
    specs = []
    for row in store.specs():
        specs.append(parse_spec(row["text"], row["path"]))
    return specs


def report(specs: list[Spec], store: Store | None, fmt: str,
           template: str | Path | None = None, *, figures_dir: str | Path | None = None,
           out: str | Path | None = None, title: str | None = None, description: str = "",
           standalone: bool = False, only: dict[str, set[str]] | None = None) -> str:
    """The whole report of ``specs`` against ``store``.

    HTML embeds its figures (SVG data URIs). With ``figures_dir`` every figure is also
    written there as PDF and SVG, and the LaTeX output includes the PDFs (paths relative
    to ``out``'s folder when given). ``only`` (parsed ``--only`` filters, see
    :mod:`suite.filters`) keeps the runs it matches; a spec left without any is left out.
    """
    from suite.filters import select

    tables = []
    for spec in specs:
        runs = frame(spec, store)
        if only:
            runs = select(runs, only)
            if runs.empty:
                continue
        table = summarize(spec, runs)
        from suite.speed import table as speed_table

        table.speed = [r for r in speed_table.rows(spec, store, set(runs["cell_id"]))
                       if r.method in table.pruning]
        if fmt == "html" or figures_dir is not None:
            from suite import figures
            from suite.speed import figure as speed_figure

            curves, flips = details(spec, store)
            if only:
                curves, flips = select(curves, only), select(flips, only)
            if table.prepared is not None:
                curves, flips = restrict(table.prepared, curves), restrict(table.prepared, flips)
            table.figures = figures.build(table, curves, flips) + speed_figure.build(table, table.speed)
            for fig in table.figures:
                if fmt == "html":
                    fig.uri = figures.svg_data_uri(fig.figure)
                if figures_dir is not None:
                    fig.files = [str(p) for p in figures.save(fig.figure, Path(figures_dir), fig.stem)]
                    base = Path(out).resolve().parent if out is not None else Path.cwd()
                    fig.include = Path(os.path.relpath(Path(fig.files[0]).resolve(), base)).as_posix()
                figures.close(fig.figure)
                fig.figure = None
        tables.append(table)
    if only and not tables:
        raise SpecError("--only " + " ".join(f"{k}={'|'.join(sorted(v))}" for k, v in only.items())
                        + " matches no run of " + ", ".join(s.path for s in specs))
    return render(tables, fmt, template, title=title, description=description,
                  standalone=standalone)
