"""The report's figures, drawn with matplotlib (no pyplot, no display; Agg-free SVG/PDF).

Per row group of a table (in the paper: one model on one dataset):

- ``accuracy``: the table's metric against target sparsity, one line per pruning
  method with error bars (sample std over seeds), the dense model as a horizontal line
  with its std band. The x axis is spaced by log(1 - sparsity), so 90%, 99% and 99.9%
  are equally far apart, and ticked at the grid's sparsities.
- ``curves``: test top-1 per epoch, one panel per target sparsity, one line per method
  (mean over seeds, the band spans the seeds' min to max).
- ``flips``: the fraction of the mask that flipped at each mask update, one panel per
  target sparsity, for the methods whose mask moves (mean over seeds).

Colours and markers are fixed per method across a report (and readable in grey).
Output is deterministic: no dates in the files, fixed SVG ids.
"""

from __future__ import annotations

import base64
import io
import math
import re
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from suite.report.model import ReportFigure, Table

# Okabe-Ito, colour-blind safe; dense is black.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
           "#882255", "#44AA99", "#999933"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
BASELINE_COLOR = "#000000"

STYLE = {
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "legend.fontsize": 8,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "lines.markersize": 4.5,
    "svg.fonttype": "path",  # text as outlines: the SVG looks the same without any font
    "svg.hashsalt": "suite-report",
    "pdf.fonttype": 42,
}
PANEL = (3.3, 2.4)  # inches per panel
MAX_COLUMNS = 4


def _style(table: Table) -> dict[str, dict[str, Any]]:
    out = {}
    for i, method in enumerate(table.pruning):
        out[method] = {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)]}
    for method in table.baselines:
        out[method] = {"color": BASELINE_COLOR, "marker": None}
    return out


def _slug(*parts: Any) -> str:
    text = "-".join(str(p) for p in parts if str(p))
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _sparsity_scale(s: np.ndarray) -> np.ndarray:
    return -np.log10(np.clip(1.0 - np.asarray(s, dtype=float), 1e-6, None))


def _inverse_scale(x: np.ndarray) -> np.ndarray:
    return 1.0 - 10.0 ** (-np.asarray(x, dtype=float))


def _pct(s: float) -> str:
    return f"{100 * s:g}%"


def _grid(n: int) -> tuple[int, int]:
    cols = min(MAX_COLUMNS, max(n, 1))
    return math.ceil(max(n, 1) / cols), cols


def _figure(n: int) -> tuple[Figure, list[Any]]:
    rows, cols = _grid(n)
    fig = Figure(figsize=(PANEL[0] * cols, PANEL[1] * rows + 0.45), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _legend(fig: Figure, axes: list[Any], columns: int) -> None:
    """One legend below the panels, at most three entries per panel column a row."""
    handles, labels = {}, []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles:
                handles[label] = h
                labels.append(label)
    if handles:
        n = len(labels)
        rows = math.ceil(n / (3 * columns))
        cols = math.ceil(n / rows)
        # matplotlib fills a legend column by column: order the entries so that they
        # read row by row, in the table's method order
        order = [labels[i * cols + j] for j in range(cols) for i in range(rows) if i * cols + j < n]
        fig.legend([handles[x] for x in order], order, loc="outside lower center", ncols=cols,
                   frameon=False)


def accuracy_vs_sparsity(table: Table, group: Any) -> Figure | None:
    """The metric against target sparsity for one row group; None without sparsity."""
    if not table.has_sparsity or not group.rows:
        return None
    style = _style(table)
    with matplotlib.rc_context(STYLE):
        fig, (ax,) = _figure(1)
        xs_all = sorted({float(r.key["sparsity"]) for r in group.rows})
        drew = False
        for method, summary in group.baseline.items():
            if summary.mean is None:
                continue
            ax.axhline(summary.mean, color=BASELINE_COLOR, linestyle="--", linewidth=1.1,
                       label=f"{table.label(method)} ({summary.mean:.{table.precision}f})")
            if summary.std is not None:
                ax.axhspan(summary.mean - summary.std, summary.mean + summary.std,
                           color=BASELINE_COLOR, alpha=0.08, linewidth=0)
            drew = True
        for method in table.pruning:
            pts = [(float(r.key["sparsity"]), r.cells[method]) for r in group.rows
                   if method in r.cells and r.cells[method].mean is not None]
            if not pts:
                continue
            x = np.array([p[0] for p in pts])
            y = np.array([p[1].mean for p in pts])
            err = np.array([p[1].std or 0.0 for p in pts])
            ax.errorbar(x, y, yerr=err, capsize=2.5, label=table.label(method),
                        **style[method])
            drew = True
        if not drew:
            return None
        ax.set_xscale("function", functions=(_sparsity_scale, _inverse_scale))
        ax.xaxis.set_major_locator(FixedLocator(xs_all))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([_pct(s) for s in xs_all])
        if len(xs_all) == 1:
            ax.set_xlim(_inverse_scale(_sparsity_scale(xs_all[0]) - 0.3),
                        _inverse_scale(_sparsity_scale(xs_all[0]) + 0.3))
        ax.set_xlabel("target sparsity")
        ax.set_ylabel(_metric_axis(table.metric))
        ax.set_title(table.group_label(group))
        _legend(fig, [ax], 1)
    return fig


def _metric_axis(metric: str) -> str:
    return {"top1": "top-1 test accuracy (%)", "top5": "top-5 test accuracy (%)",
            "best_top1": "best top-1 test accuracy (%)"}.get(metric, metric)


def _panels(table: Table, group: Any) -> list[float | None]:
    if not table.has_sparsity:
        return [None]
    return [float(r.key["sparsity"]) for r in group.rows]


def _select(df: pd.DataFrame, group: Any) -> pd.DataFrame:
    sel = pd.Series(True, index=df.index)
    for k, v in group.key.items():
        sel &= df[k] == v
    return df[sel]


def training_curves(table: Table, group: Any, curves: pd.DataFrame) -> Figure | None:
    """Test top-1 per epoch: one panel per target sparsity, one line per method."""
    data = _select(curves, group).dropna(subset=["top1"])
    if data.empty:
        return None
    style = _style(table)
    panels = _panels(table, group)
    with matplotlib.rc_context(STYLE):
        fig, axes = _figure(len(panels))
        for ax, target in zip(axes, panels, strict=True):
            for method in table.methods:
                sel = data["method"] == method
                if target is not None and method not in table.baselines:
                    sel &= (data["sparsity"] - target).abs() < 1e-9
                runs = data[sel]
                if runs.empty:
                    continue
                stats = runs.groupby("epoch")["top1"].agg(["mean", "min", "max"])
                kw = style[method]
                dashed = method in table.baselines
                ax.plot(stats.index, stats["mean"], color=kw["color"], label=table.label(method),
                        linestyle="--" if dashed else "-", linewidth=1.0 if dashed else 1.3)
                if runs["seed"].nunique() > 1:
                    ax.fill_between(stats.index, stats["min"], stats["max"], color=kw["color"],
                                    alpha=0.12, linewidth=0)
            ax.set_xlabel("epoch")
            ax.set_ylabel("top-1 test accuracy (%)")
            ax.set_title(f"{_pct(target)} sparsity" if target is not None else table.group_label(group))
        fig.suptitle(f"{table.group_label(group)}: training curves", fontsize=9.5)
        _legend(fig, axes, _grid(len(panels))[1])
    return fig


def flip_ratios(table: Table, group: Any, flips: pd.DataFrame) -> Figure | None:
    """Mask flip ratio at each mask update, for the methods whose mask moves."""
    data = _select(flips, group).dropna(subset=["flip_ratio"])
    if data.empty:
        return None
    style = _style(table)
    panels = [p for p in _panels(table, group)
              if p is None or ((data["sparsity"] - p).abs() < 1e-9).any()]
    with matplotlib.rc_context(STYLE):
        fig, axes = _figure(len(panels))
        for ax, target in zip(axes, panels, strict=True):
            for method in table.pruning:
                sel = data["method"] == method
                if target is not None:
                    sel &= (data["sparsity"] - target).abs() < 1e-9
                runs = data[sel]
                if runs.empty:
                    continue
                stats = runs.groupby("step")["flip_ratio"].mean()
                ax.plot(stats.index, 100 * stats.values, color=style[method]["color"],
                        label=table.label(method), marker=style[method]["marker"],
                        markersize=2.5 if len(stats) > 30 else 4, linewidth=1.0)
            ax.set_xlabel("optimizer step")
            ax.set_ylabel("mask flipped (% of weights)")
            ax.set_ylim(bottom=0)
            ax.set_title(f"{_pct(target)} sparsity" if target is not None else table.group_label(group))
        fig.suptitle(f"{table.group_label(group)}: mask flip ratio", fontsize=9.5)
        _legend(fig, axes, _grid(len(panels))[1])
    return fig


def build(table: Table, curves: pd.DataFrame, flips: pd.DataFrame) -> list[ReportFigure]:
    """Every figure of ``table``, in the order the reports show them."""
    out = []
    for group in table.groups:
        stem = _slug(table.spec, *(group.key[c] for c in table.group_columns))
        name = table.group_label(group)
        made = [
            ("accuracy", accuracy_vs_sparsity(table, group),
             f"{name}: {table.metric_name} against target sparsity (mean ± std over seeds)."),
            ("curves", training_curves(table, group, curves),
             f"{name}: top-1 test accuracy during training, per target sparsity "
             "(mean over seeds; the band spans the seeds)."),
            ("flips", flip_ratios(table, group, flips),
             f"{name}: fraction of the mask that flipped at each mask update (mean over seeds)."),
        ]
        for kind, fig, caption in made:
            if fig is not None:
                panels = sum(ax.get_visible() for ax in fig.axes)
                out.append(ReportFigure(f"{stem}-{kind}", kind, caption, panels, fig))
    return out


def _save_kwargs(fmt: str) -> dict[str, Any]:
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}
    return {"format": fmt, "metadata": metadata.get(fmt), "bbox_inches": "tight"}


def svg_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/svg+xml;base64`` URI (self-contained, no network)."""
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, **_save_kwargs("svg"))
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def save(fig: Figure, directory: Path, stem: str, formats: tuple[str, ...] = ("pdf", "svg")) -> list[Path]:
    """Write ``fig`` as ``directory/stem.<fmt>`` for each format; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context(STYLE):
        for fmt in formats:
            path = directory / f"{stem}.{fmt}"
            fig.savefig(path, **_save_kwargs(fmt))
            paths.append(path)
    return paths


def close(fig: Figure | None) -> None:
    """Drop the figure's artists (figures made without pyplot are freed by the GC)."""
    if fig is not None:
        fig.clear()
