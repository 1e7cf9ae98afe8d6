"""From the store to tables: ``frame`` (one row per run), ``summarize`` (mean +- std over
seeds per cell) and ``render`` (Jinja2 templates in reports/templates, or CSV).

Failed and missing runs are never dropped: each summary counts them and the tables
show them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from reports import TEMPLATES
from suite.errors import SpecError
from suite.grid import expand
from suite.result import check_format
from suite.spec import ReportLayout, Spec, parse_spec
from suite.store import Store

FORMATS = ("markdown", "html", "latex", "csv")
_TEMPLATE_FOR = {"markdown": "report.md.j2", "html": "report.html.j2", "latex": "report.tex.j2"}
COLUMNS = ["spec", "cell_id", "method", "model", "dataset", "sparsity", "seed", "status",
           "top1", "top5", "best_top1", "achieved_sparsity", "off_target", "error", "wall_seconds"]


def frame(spec: Spec, store: Store | None) -> pd.DataFrame:
    """One row per (cell, seed) the spec declares, with its status and metrics."""
    stored = store.runs() if store is not None else {}
    rows = []
    for cell in expand(spec):
        for seed in spec.seeds:
            run = stored.get((cell.id, seed))
            row: dict[str, Any] = {
                "spec": spec.name, "cell_id": cell.id, "method": cell.method, "model": cell.model,
                "dataset": cell.dataset, "sparsity": cell.sparsity, "seed": seed,
                "status": run.status if run else "pending",
            }
            if run is not None and run.status == "done" and run.result:
                result = check_format(run.result)
                m = result["metrics"]
                row.update(top1=m["top1"], top5=m.get("top5"), best_top1=m["best_top1"],
                           achieved_sparsity=result["sparsity"]["overall"],
                           off_target=bool(result["sparsity"]["off_target"]),
                           wall_seconds=result["timing"]["wall_seconds"])
            elif run is not None and run.status == "failed":
                row["error"] = run.error
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


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
        return out


def _summary(runs: pd.DataFrame, metric: str) -> Summary:
    done = runs[runs["status"] == "done"]
    values = [float(v) for v in done[metric] if v is not None and not pd.isna(v)]
    s = Summary(n=len(values), failed=int((runs["status"] == "failed").sum()),
                missing=int((runs["status"] == "pending").sum()),
                running=int((runs["status"] == "running").sum()),
                off_target=int(done["off_target"].fillna(False).astype(bool).sum()), values=values)
    if values:
        s.mean = sum(values) / len(values)
        if len(values) > 1:
            s.std = math.sqrt(sum((v - s.mean) ** 2 for v in values) / (len(values) - 1))
        s.achieved_sparsity = float(done["achieved_sparsity"].astype(float).mean())
    return s


@dataclass
class Row:
    """One table row: its key values (dataset, model, sparsity) and a Summary per method."""

    key: dict[str, Any]
    cells: dict[str, Summary]
    best: str | None = None


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


def summarize(spec: Spec, df: pd.DataFrame) -> Table:
    """Lay ``df`` out as the spec's table: one column per method; ``dense`` (which has no
    sparsity axis) is shown in every row of its model and dataset, as the baseline."""
    layout: ReportLayout = spec.report
    metric = layout.metric
    if metric == "top5" and df["top5"].isna().all() and (df["status"] == "done").any():
        raise SpecError(f"{spec.path}: report.metric = 'top5' but no result has top-5 "
                        "(it is measured for datasets with more than 10 classes)")
    methods = list(dict.fromkeys(df["method"]))
    keys = list(layout.rows)
    sparse = df[df["sparsity"] > 0] if (df["sparsity"] > 0).any() else df
    key_frame = sparse[keys].drop_duplicates()
    rows = []
    for _, key_row in key_frame.iterrows():
        key = {k: key_row[k] for k in keys}
        cells = {}
        for method in methods:
            sel = df["method"] == method
            for k, v in key.items():
                if k == "sparsity" and (df.loc[sel, "sparsity"] == 0).all():
                    continue  # a method without a sparsity axis (dense) fills every sparsity row
                sel &= df[k] == v
            if sel.any():
                cells[method] = _summary(df[sel], metric)
        scored = {m: s.mean for m, s in cells.items() if s.mean is not None and m != "dense"}
        best = max(scored, key=scored.get) if scored else None
        rows.append(Row(key, cells, best))
    totals = {status: int((df["status"] == status).sum())
              for status in ("done", "failed", "running", "pending")}
    return Table(spec.name, layout.title or spec.name, metric, methods, keys, rows,
                 layout.precision, spec.description, totals)


def _env(template_dir: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["latex"] = latex_escape
    env.filters["key"] = format_key
    return env


_LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                   "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                   "\\": r"\textbackslash{}"}


def latex_escape(text: Any) -> str:
    """Escape LaTeX's special characters in a label."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def format_key(value: Any, column: str) -> str:
    """A row-key value as shown: sparsity as a percentage, names as they are."""
    if column == "sparsity":
        return f"{100 * float(value):g}%"
    return str(value)


def render(tables: list[Table], fmt: str, template: str | Path | None = None) -> str:
    """Render ``tables`` in ``fmt`` (markdown, html, latex, csv)."""
    if fmt not in FORMATS:
        raise SpecError(f"--format {fmt!r} is not known; use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return _csv(tables)
    if template is not None:
        path = Path(template)
        if not path.is_file():
            raise SpecError(f"--template {path}: no such file")
        env = _env(path.parent)
        tpl = env.get_template(path.name)
    else:
        tpl = _env(None).get_template(_TEMPLATE_FOR[fmt])
    return tpl.render(tables=tables)


def _csv(tables: list[Table]) -> str:
    records = []
    for t in tables:
        for row in t.rows:
            for method, s in row.cells.items():
                records.append({"spec": t.spec, **row.key, "method": method, "metric": t.metric,
                                "mean": s.mean, "std": s.std, "n": s.n, "failed": s.failed,
                                "missing": s.missing, "running": s.running,
                                "achieved_sparsity": s.achieved_sparsity,
                                "off_target": s.off_target, "values": " ".join(f"{v:.4f}" for v in s.values)})
    return pd.DataFrame(records).to_csv(index=False)


def stored_specs(store: Store) -> list[Spec]:
    """The specs that produced the store's results, as they were when run."""
    specs = []
    for row in store.specs():
        specs.append(parse_spec(row["text"], row["path"]))
    return specs


def report(specs: list[Spec], store: Store | None, fmt: str,
           template: str | Path | None = None) -> str:
    """The whole report of ``specs`` against ``store``."""
    tables = [summarize(spec, frame(spec, store)) for spec in specs]
    return render(tables, fmt, template)
