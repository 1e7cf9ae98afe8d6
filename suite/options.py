"""Typed option tables: turn a TOML table into a frozen dataclass, or say exactly why not.

Every configurable piece (train recipe, method options, dataset options, backend
options) is a frozen dataclass. :func:`parse_options` coerces a TOML table into one,
once, so that ``1`` and ``1.0`` become the same float and the rest of the code never
re-checks types. Fields carrying ``metadata={"identity": False}`` (paths, execution
knobs) are left out of :func:`identity_fields`, which feeds the cell ids. Fields carrying
``metadata={"derived": "what it is"}`` are computed (a file's digest), never read from a table.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin

from suite.errors import SpecError
from suite.registry import did_you_mean

#: The largest 32-bit float: an option number beyond it overflows in the training
#: tensors (``lr = 1e300`` would fail every run instead of the spec).
FLOAT32_MAX = 3.4028234663852886e38


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options class of a plugin that takes none."""


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin in (list, tuple):
        (inner, *_) = get_args(tp) or (Any,)
        return f"a list of {_type_name(inner)}"
    if tp is type(None):
        return "nothing"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` converted to ``tp`` or raise SpecError naming ``where``."""
    origin = get_origin(tp)
    if origin is Literal:
        if value in get_args(tp) and type(value) is type(get_args(tp)[0]):
            return value
        raise SpecError(f"{where} = {value!r} is not allowed; expected {_type_name(tp)}")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in get_args(tp):
            return None
        errors = []
        for arm in get_args(tp):
            if arm is type(None):
                continue
            try:
                return coerce(value, arm, where)
            except SpecError as exc:
                errors.append(exc)
        raise SpecError(f"{where} = {value!r} has the wrong type; expected {_type_name(tp)}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise SpecError(f"{where} = {value!r} has the wrong type; expected {_type_name(tp)}")
        (inner, *_) = get_args(tp) or (Any,)
        return tuple(coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise SpecError(f"{where} = {value!r} must be a finite number")
            if abs(float(value)) > FLOAT32_MAX:
                raise SpecError(f"{where} = {value!r} is beyond the range of 32-bit floats "
                                f"(±{FLOAT32_MAX:.4g}), in which training computes")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Any:
        return value
    else:
        raise TypeError(f"unsupported option type {tp!r} at {where}")
    raise SpecError(f"{where} = {value!r} has the wrong type; expected {_type_name(tp)}")


def parse_options(cls: type, table: Mapping[str, Any] | None, where: str, base: Any = None) -> Any:
    """Build ``cls`` (a dataclass) from ``table``; ``base`` supplies values not in it.

    Unknown keys are errors with a did-you-mean; each value is coerced to its field's
    type and then checked by the class's ``validate()`` method when it has one
    (which returns an error message or None).
    """
    table = dict(table or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("derived")}
    derived = [f for f in dataclasses.fields(cls) if f.name in table and f.name not in fields]
    if derived:
        raise SpecError(f"{where}.{derived[0].name} is {derived[0].metadata['derived']}, filled in "
                        "when the spec is read; leave it out")
    unknown = [k for k in table if k not in fields]
    if unknown:
        key = unknown[0]
        allowed = ", ".join(fields) or "none"
        raise SpecError(
            f"unknown key {where}.{key}{did_you_mean(key, list(fields))}; "
            f"allowed keys: {allowed}"
        )
    values = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in table.items()}
    obj = dataclasses.replace(base, **values) if base is not None else cls(**values)
    check = getattr(obj, "validate", None)
    if check is not None:
        problem = check()
        if problem:
            raise SpecError(f"{where}: {problem}")
    return obj


def identity_fields(obj: Any) -> dict[str, Any]:
    """The fields of ``obj`` that differ from their defaults and belong to its identity.

    Leaving defaults out keeps old ids stable when a new field (with a default) is
    added, the habit of open_lth's hashed hyperparameters.
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if not f.metadata.get("identity", True):
            continue
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if value != default:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
