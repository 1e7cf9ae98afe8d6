"""Sweep axes: any typed option of a cell as a fifth, sixth, ... axis of the grid.

Besides its four axes, ``[grid]`` takes option paths, each with a list of values::

    "train.lr" = [0.05, 0.1, 0.2]                  # a field of the recipe ([train])
    "method.dpf.reprune_every" = [4, 16, 64]       # an option of one method, model or dataset
    "model.resnet20.shortcut" = ["A", "B"]

An :class:`OptionPath` names one field of one options class: ``train.<field>`` (every
cell's recipe) or ``<kind>.<name>.<field>`` for kind method, model or dataset, which
applies to the cells of that plugin only (the other methods' cells are not multiplied).
Values are coerced and validated as the option itself is, so errors name the path, the
value and what is allowed.

Ids stay content ids: a swept value is written into the cell's options and the id
hashes the options as always, so a cell swept to the value it would have anyway keeps
the id it has without the sweep. Fields that are not part of a cell's identity (paths,
execution knobs) cannot be swept: every value would make the same cell.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from suite.errors import SpecError
from suite.options import coerce, parse_options
from suite.recipes import TrainRecipe
from suite.registry import Registry, did_you_mean

#: The kinds of option an axis can sweep; ``train`` has no plugin name.
KINDS = ("train", "method", "model", "dataset")


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


@dataclass(frozen=True)
class OptionPath:
    """One option field, as a sweep axis or an ``--only`` key names it."""

    kind: str  # train | method | model | dataset
    name: str  # the plugin's name; "" for train
    field: str
    type: Any  # the field's type, for coercing values given as text

    @property
    def text(self) -> str:
        return ".".join(p for p in (self.kind, self.name, self.field) if p)

    @property
    def short(self) -> str:
        """The field name, as table headers and notes print it (``lr``, ``reprune_every``)."""
        return self.field

    def value(self, cell: Any) -> Any:
        """The cell's value of this option, or None where it does not apply."""
        return value_at(cell, self.text)

    def coerce(self, value: Any, where: str) -> Any:
        """``value`` as this option's type, or a SpecError naming ``where``."""
        return coerce(value, self.type, where)


def value_text(value: Any) -> str:
    """A swept value as tables, notes and ``--only`` print and compare it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    return str(value)


def options_class(kind: str, name: str, regs: Mapping[str, Registry]) -> type:
    """The options dataclass behind ``kind.name`` (TrainRecipe for ``train``)."""
    return TrainRecipe if kind == "train" else regs[kind].get(name).Options


def parse_path(text: str, where: str, regs: Mapping[str, Registry]) -> OptionPath:
    """Resolve ``text`` (``train.lr``, ``method.dpf.reprune_every``) to an OptionPath, or
    say which part is wrong and what is allowed there."""
    parts = text.split(".")
    kind = parts[0]
    if kind not in KINDS:
        raise SpecError(f"{where}: {text!r} is not an option path{did_you_mean(kind, KINDS)}; "
                        "option paths are train.<field>, method.<name>.<field>, "
                        "model.<name>.<field> or dataset.<name>.<field>")
    want = 2 if kind == "train" else 3
    if len(parts) != want or not all(parts):
        shape = "train.<field>" if kind == "train" else f"{kind}.<name>.<field>"
        raise SpecError(f"{where}: {text!r} is not an option path; a {kind} option is {shape}")
    name = "" if kind == "train" else parts[1]
    if name and name not in regs[kind]:
        known = regs[kind].names()
        raise SpecError(f"{where}: {text!r} names {name!r}, not a known {kind}"
                        f"{did_you_mean(name, known)}; known {kind}s: {', '.join(known)}")
    cls = options_class(kind, name, regs)
    fields = {k: f for k, f in _fields(cls).items() if not f.metadata.get("derived")}
    field = parts[-1]
    owner = "[train]" if kind == "train" else f"{kind} {name!r}"
    if field not in fields:
        allowed = ", ".join(fields) or "none"
        raise SpecError(f"{where}: {text!r}: {owner} has no option {field!r}"
                        f"{did_you_mean(field, list(fields))}; its options: {allowed}")
    if not fields[field].metadata.get("identity", True):
        raise SpecError(f"{where}: {text!r} is not part of a cell's identity (a path or an "
                        "execution knob), so every value would be the same cell; set it in its "
                        "table instead of sweeping it")
    return OptionPath(kind, name, field, typing.get_type_hints(cls)[field])


@dataclass(frozen=True)
class Sweep:
    """One sweep axis: an option path and its values, in the order the spec lists them."""

    path: OptionPath
    values: tuple[Any, ...]

    def position(self, value: Any) -> int:
        """Where ``value`` stands among the axis's values (for ordering cells)."""
        return self.values.index(value) if value in self.values else len(self.values)


def parse_sweeps(grid: Mapping[str, Any], axes: Mapping[str, tuple], regs: Mapping[str, Registry]
                 ) -> tuple[Sweep, ...]:
    """The sweep axes of a ``[grid]`` table: every key with a dot in it."""
    sweeps = []
    for key, raw in grid.items():
        if "." not in key:
            continue
        where = f'grid."{key}"'
        path = parse_path(key, where, regs)
        if path.name and path.name not in axes[path.kind]:
            raise SpecError(f"{where}: {path.kind} {path.name!r} is not in grid.{path.kind} "
                            f"({', '.join(map(str, axes[path.kind]))}), so the sweep applies to no "
                            f"cell; add it there or sweep an option of a {path.kind} the grid has")
        if not isinstance(raw, list):
            raise SpecError(f"{where} = {raw!r} must be a list of values, e.g. {where} = [...]")
        if not raw:
            raise SpecError(f"{where} is empty; list at least one value")
        values = tuple(path.coerce(v, f"{where}[{i}]") for i, v in enumerate(raw))
        sweeps.append(Sweep(path, tuple(dict.fromkeys(values))))
    return tuple(sweeps)


def check_values(sweeps: tuple[Sweep, ...], base_of: typing.Callable[[OptionPath], list[Any]]) -> None:
    """Validate each swept value on each options object it will be written into (the
    class's own ``validate`` rules: ``train.lr = -1`` is refused as ``lr`` is)."""
    for sweep in sweeps:
        path = sweep.path
        for i, value in enumerate(sweep.values):
            for base in base_of(path):
                parse_options(type(base), {path.field: value}, f'grid."{path.text}"[{i}]', base=base)


def combinations(sweeps: tuple[Sweep, ...], point: Mapping[str, Any]
                 ) -> list[tuple[tuple[Sweep, Any], ...]]:
    """Every combination of the sweep values that apply to a grid point (its method,
    model and dataset), as ((sweep, value), ...); one empty combination without sweeps."""
    own = [s for s in sweeps if s.path.kind == "train" or point[s.path.kind] == s.path.name]
    return [tuple(zip(own, combo, strict=True))
            for combo in itertools.product(*(s.values for s in own))]


def apply(options: Any, combo: tuple[tuple[Sweep, Any], ...], kind: str, name: str) -> Any:
    """``options`` (of ``kind.name``) with the combination's values for it written in and
    validated together."""
    changes = {s.path.field: v for s, v in combo if s.path.kind == kind and s.path.name == name}
    if not changes:
        return options
    where = f"{kind}.{name}" if name else kind
    return parse_options(type(options), changes, f"the swept {where}", base=options)


#: ``[select] by``: validation metrics only (the test set never chooses), and which way is better.
SELECT_METRICS = {"val_top1": max, "val_loss": min}


@dataclass(frozen=True)
class Selection:
    """``[select]``: the paper's protocol of tuning on held-out data. For every group of
    cells that differ only in the ``tune`` paths (so per method, model, dataset, sparsity
    and any other swept option), the values with the best mean ``by`` over the finished
    seeds are chosen, and the report shows those values' test metric and which they were."""

    tune: tuple[str, ...]
    by: str = "val_top1"

    @property
    def better(self) -> typing.Callable:
        return SELECT_METRICS[self.by]


def parse_selection(table: Mapping[str, Any], sweeps: tuple[Sweep, ...]) -> Selection | None:
    """``[select]``, checked against the spec's sweep axes; None when the table is absent."""
    if not table:
        return None
    allowed = ("tune", "by")
    for key in table:
        if key not in allowed:
            raise SpecError(f"unknown key select.{key}{did_you_mean(key, allowed)}; allowed keys: "
                            f"{', '.join(allowed)}")
    swept = [s.path.text for s in sweeps]
    if "tune" not in table:
        raise SpecError("select.tune is missing; list the swept option paths to choose on "
                        f"validation, e.g. tune = [\"train.lr\"] (swept here: {', '.join(swept) or 'none'})")
    tune = coerce(table["tune"], list[str], "select.tune")
    if not tune:
        raise SpecError("select.tune is empty; list at least one swept option path")
    for i, text in enumerate(tune):
        if text not in swept:
            raise SpecError(f"select.tune[{i}] = {text!r} is not a sweep axis of [grid]"
                            f"{did_you_mean(text, swept)}; swept paths: {', '.join(swept) or 'none'}")
    by = coerce(table.get("by", "val_top1"), str, "select.by")
    if by not in SELECT_METRICS:
        raise SpecError(f"select.by = {by!r} is not allowed; expected one of "
                        f"{', '.join(repr(m) for m in SELECT_METRICS)} (validation metrics: the "
                        "test set is never used to choose)")
    return Selection(tuple(dict.fromkeys(tune)), by)


def value_at(cell: Any, text: str) -> Any:
    """The value of option path ``text`` on ``cell`` without the registries (for ``--only``
    and reports): None when the path does not apply to the cell or names no option."""
    parts = text.split(".")
    if parts[0] == "train" and len(parts) == 2:
        return getattr(cell.train, parts[1], None)
    if parts[0] in KINDS[1:] and len(parts) == 3 and getattr(cell, parts[0]) == parts[1]:
        return getattr(getattr(cell, f"{parts[0]}_options"), parts[2], None)
    return None


def normal_text(text: str) -> str:
    """A value typed on the command line as :func:`value_text` prints it, so ``0.10``,
    ``1e-1`` and ``0.1`` all match the option value 0.1."""
    try:
        return value_text(tomllib.loads(f"v = {text}")["v"])
    except tomllib.TOMLDecodeError:
        return text
