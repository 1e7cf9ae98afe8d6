"""Load and validate a TOML spec into a frozen, typed :class:`Spec`.

The format (documented in docs/spec.md) has fixed table names::

    [suite]    name, seeds, description, backend
    [grid]     method, model, dataset, sparsity (+ [[grid.exclude]], [[grid.include]]),
               and sweep axes over option paths ("train.lr" = [...], see suite/sweeps.py)
    [select]   tune = [option paths], by = "val_top1": choose swept values on validation
    [train]    a TrainRecipe, optionally ``recipe = "<preset>"``, plus
               [train.per_dataset.<name>] and [train.per_model.<name>] overrides
    [method.<name>], [model.<name>], [dataset.<name>], [backend.<name>]  option tables
    [report]   table layout (+ [report.labels]: display names of methods, models, datasets)
    [[reference]]  published values attached to cells, each with its ``source``

Every problem raises :class:`SpecError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import hashlib
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from suite.errors import SpecError, SuiteError
from suite.options import coerce, parse_options
from suite.recipes import PRESETS, TrainRecipe
from suite.registry import Registry, did_you_mean
from suite.sweeps import OptionPath, Selection, Sweep, check_values, parse_selection, parse_sweeps

AXES = ("method", "model", "dataset", "sparsity")
TOP_LEVEL = ("suite", "grid", "train", "method", "model", "dataset", "backend", "report",
             "reference", "select")
METRICS = ("top1", "top5", "best_top1")
#: The largest seed: torch's CPU generator (mt19937) keeps 32 bits of ``manual_seed``'s
#: argument, so seed 2**32 would train exactly as seed 0. Refusing larger seeds keeps
#: every stored seed and its results as they are (hashing a wider seed down to 32 bits
#: could only move the aliasing, not remove it).
MAX_SEED = 2**32 - 1
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
class Rule:
    """One ``[[grid.exclude]]`` or ``[[grid.include]]`` entry: axis -> allowed values."""

    values: tuple[tuple[str, tuple[Any, ...]], ...]

    def as_dict(self) -> dict[str, tuple[Any, ...]]:
        return dict(self.values)

    def matches(self, point: Mapping[str, Any]) -> bool:
        """True when every axis named by the rule has one of its values in ``point`` (an
        option path the point lacks, an option of another method, never matches)."""
        return all(axis in point and point[axis] in allowed for axis, allowed in self.values)

    @property
    def names_options(self) -> bool:
        """Whether the rule names a swept option path (matched per swept cell)."""
        return any("." in axis for axis, _ in self.values)


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


@dataclass(frozen=True)
class Spec:
    """A validated spec. Option tables are parsed into their plugins' dataclasses."""

    name: str
    path: str
    text: str
    seeds: tuple[int, ...]
    axes: dict[str, tuple[Any, ...]]
    exclude: tuple[Rule, ...] = ()
    include: tuple[Rule, ...] = ()
    train: TrainRecipe = TrainRecipe()
    train_per_dataset: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    method_options: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    backend: str = "torch"
    backend_options: dict[str, Any] = field(default_factory=dict)
    report: ReportLayout = ReportLayout()
    description: str = ""
    references: tuple[Reference, ...] = ()
    #: Sweep axes over option paths, in the order [grid] lists them.
    sweeps: tuple[Sweep, ...] = ()
    #: ``[select]``: which swept options are chosen on validation, and by what.
    select: Selection | None = None

    @property
    def sweep_paths(self) -> tuple[OptionPath, ...]:
        return tuple(s.path for s in self.sweeps)

    @property
    def digest(self) -> str:
        """A short hash of the spec's text: how the store tells specs apart."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]

    def recipe_for(self, model: str, dataset: str) -> TrainRecipe:
        """The recipe of one cell: [train], then [train.per_dataset.<dataset>], then
        [train.per_model.<model>] on top (each may name a preset and override fields)."""
        recipe = self.train
        if dataset in self.train_per_dataset:
            recipe = _recipe(self.train_per_dataset[dataset], f"train.per_dataset.{dataset}", recipe)
        if model in self.train_per_model:
            recipe = _recipe(self.train_per_model[model], f"train.per_model.{model}", recipe)
        return recipe


def registries() -> dict[str, Registry]:
    """The four registries a spec refers to, imported lazily (they pull in torch)."""
    from backends import BACKENDS
    from methods import METHODS
    from suite.data import DATASETS
    from suite.models import MODELS

    return {"method": METHODS, "model": MODELS, "dataset": DATASETS, "backend": BACKENDS}


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(
                f"unknown key {where}{key}{did_you_mean(key, allowed)}; "
                f"allowed keys: {', '.join(allowed)}"
            )


def _table(doc: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a table ([{where}]), not {value!r}")
    return value


def _name(value: Any, kind: str, where: str, regs: dict[str, Registry]) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{where} = {value!r} has the wrong type; expected a {kind} name (a string)")
    if value not in regs[kind]:
        if regs[kind].broken(value):
            raise SpecError(f"{where} = {value!r}: {regs[kind].broken(value)}")
        known = ", ".join(regs[kind].names())
        raise SpecError(
            f"{where} = {value!r} is not a known {kind}{did_you_mean(value, regs[kind].names())}; "
            f"known {kind}s: {known}"
        )
    return value


def _sparsity(value: Any, where: str) -> float:
    s = coerce(value, float, where)
    if not 0.0 <= s < 1.0:
        raise SpecError(f"{where} = {value!r} is outside [0, 1); sparsity is the fraction of "
                        "pruned weights, e.g. 0.9")
    return s


def _axis_value(axis: str, value: Any, where: str, regs: dict[str, Registry]) -> Any:
    return _sparsity(value, where) if axis == "sparsity" else _name(value, axis, where, regs)


def _axis_values(axis: str, raw: Any, where: str, regs: dict[str, Registry],
                 allow_scalar: bool) -> tuple[Any, ...]:
    if not isinstance(raw, list):
        if allow_scalar:
            raw = [raw]
        else:
            raise SpecError(f"{where} = {raw!r} must be a list, e.g. {where.split('.')[-1]} = [...]")
    if not raw:
        raise SpecError(f"{where} is empty; list at least one {axis}")
    values = tuple(_axis_value(axis, v, f"{where}[{i}]", regs) for i, v in enumerate(raw))
    return tuple(dict.fromkeys(values))  # drop duplicates, keep order


def _rules(raw: Any, where: str, regs: dict[str, Registry],
           sweeps: tuple[Sweep, ...] = ()) -> tuple[Rule, ...]:
    """``[[grid.exclude]]`` / ``[[grid.include]]``; ``sweeps`` are the sweep axes an
    exclude rule may also name (``"train.lr" = [0.2]``), none for include rules."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise SpecError(f"{where} must be an array of tables ([[{where}]])")
    swept = {s.path.text: s.path for s in sweeps}
    keys = (*AXES, *swept)
    rules = []
    for i, rule in enumerate(raw):
        for key in rule:
            if key not in keys:
                extra = (" and the swept option paths" if swept else
                         "; include rules name the four axes only" if "." in key else "")
                raise SpecError(f"unknown key {where}[{i}].{key}{did_you_mean(key, keys)}; "
                                f"allowed keys: {', '.join(AXES)}{extra}"
                                + (f" ({', '.join(swept)})" if swept else ""))
        if not rule:
            raise SpecError(f"{where}[{i}] is empty; name at least one of {', '.join(AXES)}")
        values = [(axis, _axis_values(axis, rule[axis], f"{where}[{i}].{axis}", regs, allow_scalar=True))
                  for axis in AXES if axis in rule]
        for text, path in swept.items():
            if text in rule:
                given = rule[text] if isinstance(rule[text], list) else [rule[text]]
                values.append((text, tuple(path.coerce(v, f'{where}[{i}]."{text}"[{j}]')
                                           for j, v in enumerate(given))))
        rules.append(Rule(tuple(values)))
    return tuple(rules)


def _recipe(table: Mapping[str, Any], where: str, base: TrainRecipe) -> TrainRecipe:
    table = dict(table)
    preset = table.pop("recipe", None)
    if preset is not None:
        if not isinstance(preset, str) or preset not in PRESETS:
            raise SpecError(f"{where}.recipe = {preset!r} is not a known recipe"
                            f"{did_you_mean(str(preset), list(PRESETS))}; known recipes: "
                            f"{', '.join(PRESETS)}")
        base = parse_options(TrainRecipe, PRESETS[preset], f"{where}.recipe", base=base)
    return parse_options(TrainRecipe, table, where, base=base)


def _options_tables(doc: Mapping[str, Any], kind: str, regs: dict[str, Registry]) -> dict[str, Any]:
    out = {}
    for name, table in _table(doc, kind, kind).items():
        where = f"{kind}.{name}"
        plugin = regs[kind].get(_name(name, kind, f"[{where}]", regs))
        if not isinstance(table, dict):
            raise SpecError(f"{where} must be a table of {kind} options, not {table!r}")
        out[name] = _resolved(parse_options(plugin.Options, table, where), where)
    return out


def _resolved(options: Any, where: str) -> Any:
    """Options whose identity depends on a file (a model's ``checkpoint`` digest) fill it in
    through their ``resolve(where)``."""
    resolve = getattr(options, "resolve", None)
    return resolve(where) if resolve is not None else options


def parse_spec(text: str, path: str = "<spec>") -> Spec:
    """Parse and validate spec ``text``; ``path`` names the file in messages."""
    try:
        return _parse(text, path)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def load_spec(path: str | Path) -> Spec:
    """Read and validate the spec file at ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{p}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{p}: cannot read the spec: {exc}") from None
    return parse_spec(text, str(p))


def _parse(text: str, path: str) -> Spec:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"TOML syntax error: {exc}") from None
    if "collection" in doc:
        members = doc["collection"].get("specs") if isinstance(doc["collection"], dict) else None
        raise SpecError(
            "this file is a collection of specs ([collection]), not a spec; `suite run`, "
            "`suite plan` and `suite report` take it as a whole, or name one of its specs"
            + (f": {', '.join(map(str, members))}" if isinstance(members, list) else ""))
    regs = registries()
    _check_keys(doc, TOP_LEVEL, "")

    suite = _table(doc, "suite", "suite")
    _check_keys(suite, ("name", "description", "seeds", "backend"), "suite.")
    name = coerce(suite.get("name", Path(path).stem), str, "suite.name")
    if "seeds" not in suite:
        raise SpecError("suite.seeds is missing; list the seeds to run, e.g. seeds = [0, 1]")
    seeds = coerce(suite["seeds"], list[int], "suite.seeds")
    if not seeds:
        raise SpecError("suite.seeds is empty; list at least one seed, e.g. seeds = [0]")
    for i, s in enumerate(seeds):
        if not 0 <= s <= MAX_SEED:
            raise SpecError(f"suite.seeds[{i}] = {s} is outside 0..{MAX_SEED} (0..2**32-1): "
                            "torch's generators keep 32 bits of a seed, so larger seeds would "
                            "repeat smaller ones")
    backend = _name(suite.get("backend", "torch"), "backend", "suite.backend", regs)

    grid = _table(doc, "grid", "grid")
    for key in grid:
        if "." not in key and key not in (*AXES, "exclude", "include"):
            raise SpecError(f"unknown key grid.{key}{did_you_mean(key, (*AXES, 'exclude', 'include'))}; "
                            f"allowed keys: {', '.join(AXES)}, exclude, include, and option paths "
                            "to sweep, such as \"train.lr\" or \"method.dpf.reprune_every\"")
    axes = {}
    for axis in AXES:
        if axis not in grid:
            raise SpecError(f"grid.{axis} is missing; every spec lists the four axes "
                            f"{', '.join(AXES)}")
        axes[axis] = _axis_values(axis, grid[axis], f"grid.{axis}", regs, allow_scalar=False)

    train = _table(doc, "train", "train")
    per_dataset = train.pop("per_dataset", {})
    per_model = train.pop("per_model", {})
    base = _recipe(train, "train", TrainRecipe())
    train_per_dataset = _overrides(per_dataset, "dataset", regs)
    train_per_model = _overrides(per_model, "model", regs)

    sweeps = parse_sweeps(grid, axes, regs)
    spec = Spec(
        name=name,
        path=path,
        text=text,
        description=coerce(suite.get("description", ""), str, "suite.description"),
        seeds=tuple(dict.fromkeys(seeds)),
        axes=axes,
        exclude=_rules(grid.get("exclude"), "grid.exclude", regs, sweeps),
        include=_rules(grid.get("include"), "grid.include", regs),
        train=base,
        train_per_dataset=train_per_dataset,
        train_per_model=train_per_model,
        method_options=_options_tables(doc, "method", regs),
        model_options=_options_tables(doc, "model", regs),
        dataset_options=_options_tables(doc, "dataset", regs),
        backend=backend,
        backend_options=_options_tables(doc, "backend", regs),
        sweeps=sweeps,
    )
    select = parse_selection(_table(doc, "select", "select"), spec.sweeps)
    spec = replace(spec, select=select,
                   report=_report_layout(_table(doc, "report", "report"), spec.sweeps, select))
    check_values(spec.sweeps, lambda path: _bases(spec, path, regs))
    if select is not None:
        _check_validation_split(spec)
    for model in spec.axes["model"]:  # check every layered recipe now, not mid-run
        for ds in spec.axes["dataset"]:
            spec.recipe_for(model, ds)
    _check_sparsity_texts(grid)
    _check_metric(spec, regs)
    _warn_empty_grid(spec, path)
    if "reference" in doc:
        spec = replace(spec, references=_references(doc["reference"], spec, regs))
    return spec


def sparsity_text(value: float) -> str:
    """A sparsity as tables print it: 0.9 -> '90%', 0.995 -> '99.5%'."""
    return f"{100 * float(value):g}%"


def _check_sparsity_texts(grid: Mapping[str, Any]) -> None:
    """Two different sparsities that print alike (0.9 and 0.9000001, both '90%') would be
    two cells that no table tells apart: refused, naming both."""
    seen: dict[str, tuple[str, float]] = {}
    entries = [(f"grid.sparsity[{i}]", v) for i, v in enumerate(grid["sparsity"])]
    for i, rule in enumerate(grid.get("include") or []):
        values = rule.get("sparsity", [])
        values = values if isinstance(values, list) else [values]
        entries += [(f"grid.include[{i}].sparsity", v) for v in values]
    for where, value in entries:
        value = float(value)
        text = sparsity_text(value)
        if text in seen and seen[text][1] != value:
            raise SpecError(f"{where} = {value!r} and {seen[text][0]} = {seen[text][1]!r} are two "
                            f"cells that tables both print as {text}; keep one of them, or make "
                            "them differ in the first six digits")
        seen.setdefault(text, (where, value))


def _check_metric(spec: Spec, regs: dict[str, Registry]) -> None:
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


class SpecWarning(UserWarning):
    """A valid spec that probably does not do what its author meant."""


def _warn_empty_grid(spec: Spec, path: str) -> None:
    """Warn when exclude rules remove every cell of the axes' product."""
    if not spec.exclude:
        return
    import itertools

    product = [dict(zip(AXES, combo, strict=True))
               for combo in itertools.product(*(spec.axes[a] for a in AXES))]
    if any(not any(rule.matches(p) for rule in spec.exclude) for p in product):
        return
    whole = [i for i, rule in enumerate(spec.exclude) if all(rule.matches(p) for p in product)]
    who = (f"grid.exclude[{whole[0]}] removes" if whole else "the grid.exclude rules together remove")
    rest = ("only the [[grid.include]] cells remain" if spec.include else
            "the spec has no cell to run")
    warnings.warn(SpecWarning(f"{path}: {who} every cell of the grid's product; {rest}"),
                  stacklevel=2)


def _check_validation_split(spec: Spec) -> None:
    """``[select]`` chooses on held-out training data: every recipe needs a ``val_fraction``."""
    swept = next((s for s in spec.sweeps if s.path.text == "train.val_fraction"), None)
    fractions = list(swept.values) if swept else [
        getattr(spec.recipe_for(m, d), "val_fraction", 0.0)
        for m in spec.axes["model"] for d in spec.axes["dataset"]]
    if not all(f > 0 for f in fractions):
        raise SpecError(f"select.by = {spec.select.by!r} needs a validation split, and train.val_fraction "
                        "is 0; set it, e.g. val_fraction = 0.1 in [train] (held out of the training "
                        "split): the test set is never used to choose")


def _bases(spec: Spec, path: OptionPath, regs: dict[str, Registry]) -> list[Any]:
    """The options objects a swept value of ``path`` is written into: every model and
    dataset's recipe for ``train``, else the plugin's options as the spec sets them."""
    if path.kind == "train":
        return [spec.recipe_for(m, d) for m in spec.axes["model"] for d in spec.axes["dataset"]]
    given = getattr(spec, f"{path.kind}_options").get(path.name)
    return [given if given is not None else regs[path.kind].get(path.name).Options()]


def _report_layout(table: dict[str, Any], sweeps: tuple[Sweep, ...] = (),
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


def _references(raw: Any, spec: Spec, regs: dict[str, Registry]) -> tuple[Reference, ...]:
    """``[[reference]]`` entries: each names one cell of the grid, a metric and its value."""
    from suite.grid import expand  # grid imports this module

    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise SpecError("reference must be an array of tables ([[reference]])")
    cells = {(c.method, c.model, c.dataset, round(c.sparsity, 9)) for c in expand(spec)}
    out: dict[tuple, Reference] = {}
    for i, entry in enumerate(raw):
        where = f"reference[{i}]"
        _check_keys(entry, REFERENCE_KEYS, f"{where}.")
        for key in ("source", "method", "model", "dataset", "value"):
            if key not in entry:
                raise SpecError(f"{where}.{key} is missing; a reference names its source, the "
                                "cell (method, model, dataset, sparsity) and the published value")
        source = coerce(entry["source"], str, f"{where}.source").strip()
        if not source:
            raise SpecError(f"{where}.source is empty; cite where the value was checked, e.g. "
                            "\"Lin et al., ICLR 2020, Table 1\"")
        method = _name(entry["method"], "method", f"{where}.method", regs)
        uses_sparsity = regs["method"].get(method).uses_sparsity
        if uses_sparsity and "sparsity" not in entry:
            raise SpecError(f"{where}.sparsity is missing; method {method!r} has a sparsity axis")
        sparsity = _sparsity(entry.get("sparsity", 0.0), f"{where}.sparsity")
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
                        model=_name(entry["model"], "model", f"{where}.model", regs),
                        dataset=_name(entry["dataset"], "dataset", f"{where}.dataset", regs),
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


def _overrides(raw: Any, kind: str, regs: dict[str, Registry]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, table in _table({"t": raw}, "t", f"train.per_{kind}").items():
        _name(name, kind, f"[train.per_{kind}.{name}]", regs)
        out[name] = _table({"t": table}, "t", f"train.per_{kind}.{name}")
        _recipe(out[name], f"train.per_{kind}.{name}", TrainRecipe())  # keys and types
    return out


__all__ = ["Spec", "Rule", "ReportLayout", "Reference", "load_spec", "parse_spec", "SpecError", "SuiteError"]
