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
The values of the tables are checked in :mod:`suite.spec_values` (names, sparsities,
axes, rules), :mod:`suite.sweeps` (sweep axes, ``[select]``) and
:mod:`suite.spec_report` (``[report]``, ``[[reference]]``).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from backends import BACKENDS
from methods import METHODS
from suite.axes import AXES, sparsity_text
from suite.data import DATASETS
from suite.errors import SpecError, SuiteError
from suite.models import MODELS
from suite.options import coerce, parse_options
from suite.recipes import PRESETS, TrainRecipe
from suite.registry import Registry, did_you_mean
from suite.spec_report import (
    METRICS,
    REFERENCE_KEYS,
    Reference,
    ReportLayout,
    check_metric,
    parse_references,
    parse_report_layout,
)
from suite.spec_values import (
    Rule,
    SpecWarning,
    axis_values,
    check_keys,
    check_sparsity_texts,
    parse_rules,
    plugin_name,
    table_of,
    warn_empty_grid,
)
from suite.sweeps import OptionPath, Selection, Sweep, check_values, parse_selection, parse_sweeps

TOP_LEVEL = ("suite", "grid", "train", "method", "model", "dataset", "backend", "report",
             "reference", "select")
#: The largest seed: torch's CPU generator (mt19937) keeps 32 bits of ``manual_seed``'s
#: argument, so seed 2**32 would train exactly as seed 0. Refusing larger seeds keeps
#: every stored seed and its results as they are (hashing a wider seed down to 32 bits
#: could only move the aliasing, not remove it).
MAX_SEED = 2**32 - 1


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
    """The four registries a spec refers to."""
    return {"method": METHODS, "model": MODELS, "dataset": DATASETS, "backend": BACKENDS}

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
    for name, table in table_of(doc, kind, kind).items():
        where = f"{kind}.{name}"
        plugin = regs[kind].get(plugin_name(name, kind, f"[{where}]", regs))
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
    check_keys(doc, TOP_LEVEL, "")

    suite = table_of(doc, "suite", "suite")
    check_keys(suite, ("name", "description", "seeds", "backend"), "suite.")
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
    backend = plugin_name(suite.get("backend", "torch"), "backend", "suite.backend", regs)

    grid = table_of(doc, "grid", "grid")
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
        axes[axis] = axis_values(axis, grid[axis], f"grid.{axis}", regs, allow_scalar=False)

    train = table_of(doc, "train", "train")
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
        exclude=parse_rules(grid.get("exclude"), "grid.exclude", regs, sweeps),
        include=parse_rules(grid.get("include"), "grid.include", regs),
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
    select = parse_selection(table_of(doc, "select", "select"), spec.sweeps)
    spec = replace(spec, select=select,
                   report=parse_report_layout(table_of(doc, "report", "report"), spec.sweeps, select))
    check_values(spec.sweeps, lambda path: _bases(spec, path, regs))
    if select is not None:
        _check_validation_split(spec)
    for model in spec.axes["model"]:  # check every layered recipe now, not mid-run
        for ds in spec.axes["dataset"]:
            spec.recipe_for(model, ds)
    check_sparsity_texts(grid)
    check_metric(spec, regs)
    warn_empty_grid(spec, path)
    if "reference" in doc:
        spec = replace(spec, references=parse_references(doc["reference"], spec, regs))
    return spec

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

def _overrides(raw: Any, kind: str, regs: dict[str, Registry]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, table in table_of({"t": raw}, "t", f"train.per_{kind}").items():
        plugin_name(name, kind, f"[train.per_{kind}.{name}]", regs)
        out[name] = table_of({"t": table}, "t", f"train.per_{kind}.{name}")
        _recipe(out[name], f"train.per_{kind}.{name}", TrainRecipe())  # keys and types
    return out


__all__ = ["AXES", "METRICS", "REFERENCE_KEYS", "Reference", "ReportLayout", "Rule", "Spec", "SpecError",
           "SpecWarning", "SuiteError", "load_spec", "parse_spec", "registries", "sparsity_text"]
