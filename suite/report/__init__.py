"""From the store to tables and figures, in layers that import one way:

- :mod:`suite.runs`: the store as per-run tables (``frame``, ``details``),
  shared by reports and ``suite export``;
- :mod:`suite.report.model`: the table model (``Table``, ``Summary``, ...), plain data;
- :mod:`suite.report.layout`: ``summarize``, the per-run frame laid out as the spec's
  table (mean +- std over seeds per cell, laid out like the paper's tables);
- :mod:`suite.report.render`: Jinja2 templates in reports/templates, or CSV;
- :mod:`suite.report.figures` draws from the table model only.

Failed and missing runs are never dropped: each summary counts them, and the LaTeX and
HTML tables give them a footnote, as they do for sparsity that missed its target.

The paper layout (LaTeX, HTML): models are row groups that carry their dense
accuracy, each row is a target sparsity, and each pruning method is a column; the best
pruning method of a row is in bold. Published values from the spec's
``[[reference]]`` tables are shown next to the reproduced ones with the difference.
"""

from __future__ import annotations

import os
from pathlib import Path

from suite.errors import SpecError
from suite.filters import select
from suite.grid import expand
from suite.report import figures, speed_figure
from suite.report import rounds as rounds_table
from suite.report.layout import summarize
from suite.report.model import (
    METRIC_NAMES,
    Comparison,
    Footnote,
    Group,
    ReportFigure,
    Row,
    Summary,
    Table,
    format_key,
    format_params,
)
from suite.report.render import FORMATS, render, signed
from suite.runs import (
    CURVE_COLUMNS,
    FLIP_COLUMNS,
    INTEGER_COLUMNS,
    KEY_COLUMNS,
    RUN_COLUMNS,
    declared_runs,
    details,
    done_records,
    frame,
    numerics_columns,
    run_key,
    run_precision,
)
from suite.spec import Spec, parse_spec
from suite.speed import table as speed_table
from suite.store import Store
from suite.tuning import restrict

__all__ = ["CURVE_COLUMNS", "FLIP_COLUMNS", "FORMATS", "INTEGER_COLUMNS",
           "KEY_COLUMNS", "METRIC_NAMES", "RUN_COLUMNS", "Comparison", "Footnote", "Group",
           "ReportFigure", "Row", "Summary", "Table", "declared_runs", "details", "done_records",
           "format_key", "format_params", "frame", "numerics_columns", "render", "report",
           "run_key", "run_precision", "signed", "stored_specs", "summarize"]

def stored_specs(store: Store) -> list[Spec]:
    """The specs that produced the store's results, as they were when last run.

    A spec run again after an edit that left its cells and seeds as they were (a
    comment, its ``[report]`` layout) is one spec, at its newest text; an edit that
    changed the grid leaves both, each reporting its own cells.
    """
    latest: dict[tuple, Spec] = {}
    for row in store.specs():  # oldest first
        spec = parse_spec(row["text"], row["path"])
        same_grid = (spec.name, tuple(c.id for c in expand(spec)), tuple(spec.seeds))
        latest.pop(same_grid, None)
        latest[same_grid] = spec
    return list(latest.values())


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
    tables = []
    for spec in specs:
        runs = frame(spec, store)
        if only:
            runs = select(runs, only)
            if runs.empty:
                continue
        table = summarize(spec, runs)
        table.speed = [r for r in speed_table.rows(spec, store, set(runs["cell_id"]))
                       if r.method in table.pruning]
        table.rounds = rounds_table.rows(spec, store, set(runs["cell_id"]))
        if fmt == "html" or figures_dir is not None:
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
