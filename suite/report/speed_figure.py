"""The report's speed figure: measured speedup (dense median / pruned median) against
sparsity, one line per pruning method and batch size (solid: the smallest batch,
dashed: the largest), with the MAC limit 1/(1-s) drawn as the physical bound."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from suite.report import figures
from suite.report.model import ReportFigure, Table
from suite.speed.table import SpeedRow, batches_of


def speedup_vs_sparsity(table: Table, model_rows: list[SpeedRow], title: str) -> Figure | None:
    """One panel for one model's measured cells; None when none has a speedup."""
    batches = batches_of(model_rows)
    if not batches:
        return None
    style = figures._style(table)
    with matplotlib.rc_context(figures.STYLE):
        fig, (ax,) = figures._figure(1)
        xs = sorted({float(r.key["sparsity"]) for r in model_rows})
        grid = np.linspace(0.0, max(xs + [0.5]), 100)
        ax.plot(grid, 1.0 / (1.0 - grid), color=figures.BASELINE_COLOR, linestyle=":",
                linewidth=1.0, label="MAC bound 1/(1−s)")
        ax.axhline(1.0, color="#888888", linewidth=0.8)
        for method in table.pruning:
            mine = sorted((r for r in model_rows if r.method == method), key=lambda r: r.key["sparsity"])
            for i, batch in enumerate((batches[0], batches[-1]) if len(batches) > 1 else batches):
                pts = [(float(r.key["sparsity"]), r.speedup[batch]) for r in mine if batch in r.speedup]
                if not pts:
                    continue
                ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle="--" if i else "-",
                        label=f"{table.label(method)}, batch {batch}", **style.get(method, {}))
        ax.set_yscale("log", base=2)
        ax.set_ylim(0.25, max(4.0, 1.0 / (1.0 - max(xs)) * 1.2))
        ax.set_xlabel("target sparsity")
        ax.set_ylabel("measured speedup over dense (×)")
        ax.set_title(title)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=1, frameon=False)
    return fig


def build(table: Table, speed_rows: list[SpeedRow]) -> list[ReportFigure]:
    """The speed figure of each model of ``table`` that has measurements."""
    out = []
    by_model: dict[tuple[Any, Any], list[SpeedRow]] = {}
    for r in speed_rows:
        by_model.setdefault((r.key["dataset"], r.key["model"]), []).append(r)
    for (dataset, model), model_rows in by_model.items():
        name = f"{table.label(model)} on {table.label(dataset)}"
        fig = speedup_vs_sparsity(table, [r for r in model_rows if r.method in table.pruning], name)
        if fig is not None:
            caption = (f"{name}: measured speedup of the pruned model over the dense one against "
                       "target sparsity (mean over seeds; machine in the speed table); the dotted "
                       "line is the MAC bound 1/(1−s).")
            out.append(ReportFigure(figures._slug(table.spec, dataset, model, "speed"), "speed",
                                    caption, 1, fig))
    return out
