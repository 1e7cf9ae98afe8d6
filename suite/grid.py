"""Grid expansion: a Spec becomes a sorted list of Cells, each with a content id.

Pure functions only. A cell's id is a short hash of its canonical typed form plus its
method's version; the seed is a separate key and execution knobs (device, backend,
paths) are not part of it. Option fields still at their defaults are left out of the
canonical form, so adding an option with a default keeps existing ids.

The one backend knob that joins the id is ``precision`` (it changes the numbers a run
ends with), read from the table of the spec's backend and left out while it is the
default ``fp32``: ``bf16`` and ``auto`` cells are new cells, fp32 ids are those of
before. ``auto`` joins as itself, not as what it resolves to, so every host computes
the same ids from the same spec (see docs/spec.md, "Precision").
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from methods import METHODS
from suite import sweeps
from suite.axes import AXES
from suite.data import DATASETS
from suite.models import MODELS
from suite.options import identity_fields
from suite.recipes import TrainRecipe

if TYPE_CHECKING:
    from suite.spec import Spec

ID_LENGTH = 12
#: The precision of cells whose backend table does not set one; left out of their ids.
DEFAULT_PRECISION = "fp32"


@dataclass(frozen=True)
class Cell:
    """One grid point with everything that determines its result except the seed."""

    method: str
    model: str
    dataset: str
    sparsity: float
    train: TrainRecipe
    method_version: int
    method_options: Any
    model_options: Any
    dataset_options: Any
    #: The precision asked for (fp32, bf16, auto; fp16 on DeepSpeed), from the backend table.
    precision: str = "fp32"

    def canonical(self) -> dict[str, Any]:
        """The typed, order-independent description that the id hashes."""
        out: dict[str, Any] = {
            "method": self.method,
            "method_version": self.method_version,
            "model": self.model,
            "dataset": self.dataset,
            "sparsity": float(self.sparsity),
            "train": identity_fields(self.train),
        }
        for key in ("method_options", "model_options", "dataset_options"):
            fields = identity_fields(getattr(self, key))
            if fields:
                out[key] = fields
        if self.precision != DEFAULT_PRECISION:
            out["precision"] = self.precision
        return out

    @property
    def id(self) -> str:
        return cell_id(self.canonical())

    @property
    def rounds(self) -> int:
        """How many trainings of the recipe a run of this cell is (its method's rounds,
        :meth:`methods.Method.rounds`; 1 but for lottery tickets)."""
        return METHODS.get(self.method).rounds(self.method_options, self.sparsity)

    def axis(self, name: str) -> Any:
        """The value of axis ``name`` (method, model, dataset, sparsity)."""
        return getattr(self, name)


def cell_id(canonical: dict[str, Any]) -> str:
    """Short hex hash of a canonical cell (JSON with sorted keys, floats as floats)."""
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:ID_LENGTH]


def _points(spec: Spec) -> list[dict[str, Any]]:
    product = itertools.product(*(spec.axes[a] for a in AXES))
    points = [dict(zip(AXES, combo, strict=True)) for combo in product]
    points = [p for p in points if not any(rule.matches(p) for rule in spec.exclude
                                           if not rule.names_options)]
    for rule in spec.include:
        given = rule.as_dict()
        pools = [given.get(axis, spec.axes[axis]) for axis in AXES]
        points += [dict(zip(AXES, combo, strict=True)) for combo in itertools.product(*pools)]
    return points


def expand(spec: Spec) -> list[Cell]:
    """All cells of ``spec``: the axes' product minus excludes plus includes, deduplicated,
    in the order the spec lists axis values (dataset, model, method, sparsity, then the
    sweep axes'); each grid point is multiplied by the sweep values that apply to it."""
    cells: dict[str, Cell] = {}
    precision = spec_precision(spec)
    for p in _points(spec):
        method_cls = METHODS.get(p["method"])
        sparsity = float(p["sparsity"]) if method_cls.uses_sparsity else 0.0
        base = {
            "train": spec.recipe_for(p["model"], p["dataset"]),
            "method": spec.method_options.get(p["method"], method_cls.Options()),
            "model": _model_options(spec, p["model"]),
            "dataset": _dataset_options(spec, p["dataset"]),
        }
        for combo in sweeps.combinations(spec.sweeps, p):
            swept = {**p, **{s.path.text: v for s, v in combo}}
            if any(rule.matches(swept) for rule in spec.exclude if rule.names_options):
                continue
            opts = {kind: sweeps.apply(value, combo, kind, "" if kind == "train" else p[kind])
                    for kind, value in base.items()}
            cell = Cell(
                method=p["method"],
                model=p["model"],
                dataset=p["dataset"],
                sparsity=sparsity,
                train=opts["train"],
                method_version=method_cls.version,
                method_options=opts["method"],
                model_options=opts["model"],
                dataset_options=opts["dataset"],
                precision=precision,
            )
            cells.setdefault(cell.id, cell)

    def order(c: Cell) -> tuple:
        def pos(axis: str, value: Any) -> int:
            values = spec.axes[axis]
            return values.index(value) if value in values else len(values)

        swept = tuple(s.position(s.path.value(c)) for s in spec.sweeps)
        return (pos("dataset", c.dataset), pos("model", c.model), pos("method", c.method),
                c.sparsity, swept, c.id)

    return sorted(cells.values(), key=order)


def spec_precision(spec: Spec) -> str:
    """The precision of a spec's cells: ``precision`` of its backend's table, else fp32."""
    return getattr(spec.backend_options.get(spec.backend), "precision", DEFAULT_PRECISION)


def _model_options(spec: Spec, name: str) -> Any:
    return spec.model_options.get(name) or MODELS.get(name).Options()


def _dataset_options(spec: Spec, name: str) -> Any:
    return spec.dataset_options.get(name) or DATASETS.get(name).Options()
