"""Typed values of a spec's tables: plugin names, sparsities, axis value lists, the
``[[grid.exclude]]`` / ``[[grid.include]]`` rules and the checks of the grid as a whole
(sparsities that print alike, exclude rules that leave nothing). Each function checks one kind of value
and raises a SpecError naming the key, the value and what is allowed."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from suite.axes import AXES, sparsity_text
from suite.errors import SpecError
from suite.options import coerce
from suite.registry import Registry, did_you_mean
from suite.sweeps import Sweep


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

def check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(
                f"unknown key {where}{key}{did_you_mean(key, allowed)}; "
                f"allowed keys: {', '.join(allowed)}"
            )

def table_of(doc: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a table ([{where}]), not {value!r}")
    return value

def plugin_name(value: Any, kind: str, where: str, regs: dict[str, Registry]) -> str:
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

def sparsity_value(value: Any, where: str) -> float:
    s = coerce(value, float, where)
    if not 0.0 <= s < 1.0:
        raise SpecError(f"{where} = {value!r} is outside [0, 1); sparsity is the fraction of "
                        "pruned weights, e.g. 0.9")
    return s

def axis_value(axis: str, value: Any, where: str, regs: dict[str, Registry]) -> Any:
    return sparsity_value(value, where) if axis == "sparsity" else plugin_name(value, axis, where, regs)

def axis_values(axis: str, raw: Any, where: str, regs: dict[str, Registry],
                 allow_scalar: bool) -> tuple[Any, ...]:
    if not isinstance(raw, list):
        if allow_scalar:
            raw = [raw]
        else:
            raise SpecError(f"{where} = {raw!r} must be a list, e.g. {where.split('.')[-1]} = [...]")
    if not raw:
        raise SpecError(f"{where} is empty; list at least one {axis}")
    values = tuple(axis_value(axis, v, f"{where}[{i}]", regs) for i, v in enumerate(raw))
    return tuple(dict.fromkeys(values))  # drop duplicates, keep order

def parse_rules(raw: Any, where: str, regs: dict[str, Registry],
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
        values = [(axis, axis_values(axis, rule[axis], f"{where}[{i}].{axis}", regs, allow_scalar=True))
                  for axis in AXES if axis in rule]
        for text, path in swept.items():
            if text in rule:
                given = rule[text] if isinstance(rule[text], list) else [rule[text]]
                values.append((text, tuple(path.coerce(v, f'{where}[{i}]."{text}"[{j}]')
                                           for j, v in enumerate(given))))
        rules.append(Rule(tuple(values)))
    return tuple(rules)


def check_sparsity_texts(grid: Mapping[str, Any]) -> None:
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

class SpecWarning(UserWarning):
    """A valid spec that probably does not do what its author meant."""

def warn_empty_grid(spec: Any, path: str) -> None:
    """Warn when exclude rules remove every cell of the axes' product."""
    if not spec.exclude:
        return
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
