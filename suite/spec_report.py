"""The report tables of a spec: ``[report]`` (table layout, ``[report.labels]``) and
``[[reference]]`` (published values attached to cells of the grid)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from suite.errors import SpecError
from suite.grid import expand
from suite.options import coerce, parse_options
from suite.registry import Registry
from suite.spec_values import check_keys, plugin_name, sparsity_value
from suite.sweeps import Selection, Sweep

if TYPE_CHECKING:
    from suite.spec import Spec

METRICS = ("top1", "top5", "best_top1")
REFERENCE_KEYS = ("source", "method", "model", "dataset", "sparsity", "metric", "value", "std",
                  "note")


@dataclass(frozen=True)
class ReportLayout:
    """``[report]``: how tables are laid out.

    Rows are the non-method axes (``rows``), one column per method, the ``metric``
    shown as mean +- std over seeds with ``precision`` decimals. ``labels`` maps method,
    model and dataset names to the names printed in tables and figures
    (``[report.labels]``, e.g. ``wrn28_2 = "WRN-28-2"``); names without one get the
    suite's default label.
    """

    title: str = ""
    metric: Literal["top1", "top5", "best_top1"] = "top1"
    rows: tuple[str, ...] = ("dataset", "model", "sparsity")
    precision: int = 2
    labels: tuple[tuple[str, str], ...] = ()
    #: Swept option paths that split the method columns (``DPF (reprune_every 4)``); by
    #: default the methods' own options. Other swept paths are row keys after ``rows``.
    columns: tuple[str, ...] = ()
    #: Add a table of each pruning method against the best of its row: the difference,
    #: its standard error and Welch's p over the seeds (:mod:`suite.report.against`).
    against_best: bool = False

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def validate(self) -> str | None:
        allowed = ("dataset", "model", "sparsity")
        bad = [r for r in self.rows if r not in allowed and "." not in r]
        if bad:
            return (f"rows = {list(self.rows)}: {bad[0]!r} is not allowed; use a subset of "
                    f"{list(allowed)} and swept option paths")
        if not 0 <= self.precision <= 6:
            return f"precision = {self.precision} must lie in 0..6"
        return None

@dataclass(frozen=True)
class Reference:
    """One ``[[reference]]``: a published value of one cell, with the citation it came from.

    ``sparsity`` is 0 for methods without a sparsity axis (dense). Reports show it next
    to the reproduced value, with the difference.
    """

    source: str
    method: str
    model: str
    dataset: str
    sparsity: float
    value: float
    std: float | None = None
    metric: str = "top1"
    note: str = ""

    @property
    def key(self) -> tuple[str, str, str, float, str]:
        return (self.method, self.model, self.dataset, round(self.sparsity, 9), self.metric)

def parse_report_layout(table: dict[str, Any], sweeps: tuple[Sweep, ...] = (),
                   select: Selection | None = None) -> ReportLayout:
    """``[report]``; swept paths that ``[select]`` does not tune are laid out too: by
    default a method's own options split its column, the others are row keys."""
    table = dict(table)
    tuned = set(select.tune) if select else set()
    shown = [s.path for s in sweeps if s.path.text not in tuned]
    defaults = ReportLayout()
    if "rows" not in table:
        table["rows"] = [*defaults.rows, *(p.text for p in shown if p.kind != "method")]
    if "columns" not in table:
        table["columns"] = [p.text for p in shown if p.kind == "method"]
    swept = {p.text: p for p in shown}
    for key in ("rows", "columns"):
        value = table[key]
        for i, item in enumerate(value if isinstance(value, list) else []):
            if isinstance(item, str) and "." in item and item not in swept:
                why = ("is tuned by [select] and not shown" if item in tuned else
                       "is not a swept option path of [grid]")
                raise SpecError(f"report.{key}[{i}] = {item!r} {why}; swept paths shown: "
                                f"{', '.join(swept) or 'none'}")
    for i, item in enumerate(table["columns"] if isinstance(table["columns"], list) else []):
        if isinstance(item, str) and item not in swept:
            raise SpecError(f"report.columns[{i}] = {item!r} is not allowed; columns split by "
                            f"swept option paths: {', '.join(swept) or 'none'}")
    rows = table["rows"] if isinstance(table["rows"], list) else []
    columns = table["columns"] if isinstance(table["columns"], list) else []
    for item in set(rows) & set(columns):
        raise SpecError(f"report: {item!r} is in both rows and columns; put it in one of them")
    for path in shown:
        if path.text not in rows and path.text not in columns:
            raise SpecError(f"report.rows and report.columns leave out the swept {path.text!r}; "
                            "its cells would be averaged together: add it to one of them")
        if path.kind == "method" and path.text in rows:
            raise SpecError(f"report.rows: {path.text!r} is an option of one method; it can only "
                            "split that method's column (report.columns)")
    labels = table.pop("labels", {})
    if not isinstance(labels, dict):
        raise SpecError(f"report.labels = {labels!r} must be a table of name = \"label\" "
                        "([report.labels], e.g. wrn28_2 = \"WRN-28-2\")")
    for key, value in labels.items():
        if not isinstance(value, str) or not value.strip():
            raise SpecError(f"report.labels.{key} = {value!r} must be a non-empty string")
    layout = parse_options(ReportLayout, table, "report")
    return replace(layout, labels=tuple(labels.items()))

def parse_references(raw: Any, spec: Spec, regs: dict[str, Registry]) -> tuple[Reference, ...]:
    """``[[reference]]`` entries: each names one cell of the grid, a metric and its value."""
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise SpecError("reference must be an array of tables ([[reference]])")
    cells = {(c.method, c.model, c.dataset, round(c.sparsity, 9)) for c in expand(spec)}
    out: dict[tuple, Reference] = {}
    for i, entry in enumerate(raw):
        where = f"reference[{i}]"
        check_keys(entry, REFERENCE_KEYS, f"{where}.")
        for key in ("source", "method", "model", "dataset", "value"):
            if key not in entry:
                raise SpecError(f"{where}.{key} is missing; a reference names its source, the "
                                "cell (method, model, dataset, sparsity) and the published value")
        source = coerce(entry["source"], str, f"{where}.source").strip()
        if not source:
            raise SpecError(f"{where}.source is empty; cite where the value was checked, e.g. "
                            "\"Lin et al., ICLR 2020, Table 1\"")
        method = plugin_name(entry["method"], "method", f"{where}.method", regs)
        uses_sparsity = regs["method"].get(method).uses_sparsity
        if uses_sparsity and "sparsity" not in entry:
            raise SpecError(f"{where}.sparsity is missing; method {method!r} has a sparsity axis")
        sparsity = sparsity_value(entry.get("sparsity", 0.0), f"{where}.sparsity")
        if not uses_sparsity and sparsity != 0.0:
            raise SpecError(f"{where}.sparsity = {entry['sparsity']!r}: method {method!r} has no "
                            "sparsity axis; leave sparsity out")
        metric = coerce(entry.get("metric", "top1"), str, f"{where}.metric")
        if metric not in METRICS:
            raise SpecError(f"{where}.metric = {metric!r} is not allowed; expected one of "
                            f"{', '.join(repr(m) for m in METRICS)}")
        value = coerce(entry["value"], float, f"{where}.value")
        if not 0.0 <= value <= 100.0:
            raise SpecError(f"{where}.value = {entry['value']!r} is outside [0, 100]; give the "
                            "accuracy in percent")
        std = coerce(entry["std"], float, f"{where}.std") if "std" in entry else None
        if std is not None and std < 0:
            raise SpecError(f"{where}.std = {entry['std']!r} must be >= 0")
        ref = Reference(source=source, method=method,
                        model=plugin_name(entry["model"], "model", f"{where}.model", regs),
                        dataset=plugin_name(entry["dataset"], "dataset", f"{where}.dataset", regs),
                        sparsity=sparsity, value=value, std=std, metric=metric,
                        note=coerce(entry.get("note", ""), str, f"{where}.note"))
        if ref.key[:4] not in cells:
            raise SpecError(
                f"{where} (method={method!r}, model={ref.model!r}, dataset={ref.dataset!r}, "
                f"sparsity={sparsity:g}) matches no cell of the grid; name a cell the spec runs")
        if ref.key in out:
            raise SpecError(f"{where} repeats the {metric} reference of reference"
                            f"[{list(out).index(ref.key)}] for the same cell; keep one")
        out[ref.key] = ref
    return tuple(out.values())

def check_metric(spec: Spec, regs: dict[str, Registry]) -> None:
    """``report.metric = "top5"`` needs datasets of more than 10 classes (top-5 is not
    measured below that)."""
    if spec.report.metric != "top5":
        return
    for name in spec.axes["dataset"]:
        dataset = regs["dataset"].get(name)(spec.dataset_options.get(name))
        classes = dataset.known_classes()
        if classes is not None and classes <= 10:
            raise SpecError(f"report.metric = 'top5' but dataset {name!r} has {classes} classes; "
                            "top-5 accuracy is measured for datasets of more than 10 classes; use "
                            f"one of {', '.join(repr(m) for m in METRICS if m != 'top5')}")
