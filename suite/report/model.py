"""The table model of a report: plain data that templates and figures read.

A :class:`Table` is one spec's table: rows (target sparsities, grouped by model) by
methods, a :class:`Summary` of the seeds in each cell, footnotes, published values and
figures. Nothing here reads the store or renders; :mod:`suite.report.layout` builds
tables from the per-run frame and :mod:`suite.report.render` renders them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from suite.catalog import label as plugin_label
from suite.spec import sparsity_text
from suite.sweeps import value_text
from suite.tuning import Prepared

METRIC_NAMES = {"top1": "top-1 test accuracy", "top5": "top-5 test accuracy",
                "best_top1": "best top-1 test accuracy during training"}


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
    #: per round of the runs of several rounds (lottery tickets, suite/report/rounds.py)
    rounds: list[Any] = field(default_factory=list)
    #: each pruning method against its row's best (``[report] against_best``,
    #: suite/report/against.py); empty without
    against: list[Any] = field(default_factory=list)
    #: a swept spec's runs as laid out (selection, split columns), for the figures
    prepared: Prepared | None = None

    # helpers for templates
    def label(self, name: Any) -> str:
        """The printed name of a method, model or dataset."""
        return self.labels.get(str(name)) or plugin_label(str(name))

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
    def shown_key_columns(self) -> list[str]:
        """The key columns a paper-layout table prints in each row (the against-the-best
        table): the shown group columns, then the target sparsity."""
        return self.shown_group_columns + (["sparsity"] if "sparsity" in self.key_columns else [])

    @property
    def context(self) -> str:
        """The constant axes, e.g. 'CIFAR-10', for captions."""
        return ", ".join(self.label(v) for c, v in self.constant.items() if c != "model")

    @property
    def precision_runs(self) -> dict[str, list[tuple[str, int]]]:
        """Finished runs per training precision and method, methods in column order, e.g.
        ``{"bf16": [("dense", 3), ("dpf", 9)], "fp32": [("sm", 9)]}``. A baseline (dense)
        counts once per row group, not once per row it fills."""
        counts: dict[str, dict[str, int]] = {}

        def add(method: str, s: Summary) -> None:
            for precision, n in s.precisions.items():
                per_method = counts.setdefault(precision, {})
                per_method[method] = per_method.get(method, 0) + n

        for group in self.groups:
            for method, s in group.baseline.items():
                add(method, s)
            for row in group.rows:
                for method, s in row.cells.items():
                    if method not in self.baselines:
                        add(method, s)
        order = {m: i for i, m in enumerate(self.methods)}
        return {p: sorted(per.items(), key=lambda item: order.get(item[0], len(order)))
                for p, per in sorted(counts.items())}

    @property
    def precision_text(self) -> str:
        """'' when every finished run of the table trained in one precision; else which
        runs trained in which, e.g. 'bf16: Dense 3, DPF 9; fp32: SM 9, DSR 4'."""
        runs = self.precision_runs
        if len(runs) < 2:
            return ""
        return "; ".join(f"{p}: " + ", ".join(f"{self.label(m)} {n}" for m, n in per)
                         for p, per in runs.items())

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


def format_key(value: Any, column: str) -> str:
    """A row-key value as shown: sparsity as a percentage, names as they are."""
    if column == "sparsity":
        return sparsity_text(value)
    return str(value)
