"""``--only KEY=VALUE`` on ``run``, ``plan``, ``report`` and ``export``.

:func:`check` refuses a value that no cell or seed of the specs has, naming the values
there are with a did-you-mean (``--only method=densee``); :func:`select` keeps the rows
of a per-run, per-epoch, per-update or per-layer table that a filter matches, with the
runner's rule: the same key given twice means any of its values, different keys all.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from suite import sweeps
from suite.errors import SpecError
from suite.grid import Cell, expand
from suite.registry import did_you_mean
from suite.spec import AXES, Spec

#: The keys of ``--only`` besides option paths (``train.lr``).
FILTER_KEYS = (*AXES, "seed", "id")
#: The column of a report or export table that each --only key compares with.
COLUMN = {"method": "method", "model": "model", "dataset": "dataset", "sparsity": "sparsity",
          "seed": "seed", "id": "cell_id"}


def parse_filters(only: Iterable[str]) -> dict[str, set[str]]:
    """``--only KEY=VALUE`` options: same key = any of the values, different keys = all."""
    filters: dict[str, set[str]] = {}
    for item in only:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise SpecError(f"--only {item!r} must look like KEY=VALUE, e.g. --only method=dpf")
        if key not in FILTER_KEYS and "." not in key:
            raise SpecError(f"--only {item!r}: unknown key {key!r}{did_you_mean(key, FILTER_KEYS)}; "
                            f"allowed keys: {', '.join(FILTER_KEYS)} and option paths such as "
                            "train.lr")
        if key == "sparsity":
            try:
                value = repr(float(value))
            except ValueError:
                raise SpecError(f"--only {item!r}: sparsity must be a number") from None
        elif "." in key:
            value = sweeps.normal_text(value)
        filters.setdefault(key, set()).add(value)
    return filters


def matches(cell: Cell, seed: int, filters: dict[str, set[str]]) -> bool:
    """Whether the run (cell, seed) passes parsed ``--only`` filters."""
    values = {"method": cell.method, "model": cell.model, "dataset": cell.dataset,
              "sparsity": repr(float(cell.sparsity)), "seed": str(seed), "id": cell.id}
    return all((values[k] if k in values else filter_text(cell, k)) in allowed
               for k, allowed in filters.items())


def filter_text(cell: Cell, path: str) -> str | None:
    """The text ``--only PATH=VALUE`` compares for an option path (None: not the cell's)."""
    value = sweeps.value_at(cell, path)
    return None if value is None else sweeps.value_text(value)


def _text(key: str, value: object) -> str:
    """A value as --only compares it: sparsities as repr(float), the rest as text."""
    return repr(float(value)) if key == "sparsity" else str(value)


def grid_values(specs: Iterable[Spec]) -> dict[str, list[str]]:
    """Every value each --only key can take in ``specs``, in grid order."""
    out: dict[str, dict[str, None]] = {k: {} for k in COLUMN}
    for spec in specs:
        for cell in expand(spec):
            for key in ("method", "model", "dataset", "sparsity"):
                out[key][_text(key, cell.axis(key))] = None
            out["id"][cell.id] = None
        for seed in spec.seeds:
            out["seed"][str(seed)] = None
    return {k: list(v) for k, v in out.items()}


def _shown(key: str, value: str) -> str:
    return f"{float(value):g}" if key == "sparsity" else value


def _path_values(specs: Iterable[Spec], path: str) -> tuple[list[str], dict[str, set[str]]]:
    """The values an option path takes in ``specs`` (grid order) and the cell ids of each."""
    ids: dict[str, set[str]] = {}
    for spec in specs:
        for cell in expand(spec):
            text = filter_text(cell, path)
            if text is not None:
                ids.setdefault(text, set()).add(cell.id)
    return list(ids), ids


def _refuse(key: str, value: str, known: list[str], where: str) -> SpecError:
    shown = [_shown(key, v) for v in known]
    listing = ", ".join(shown[:20]) + (f", ... ({len(shown)} in all)" if len(shown) > 20 else "")
    if not shown:
        return SpecError(f"--only {key}={value}: no cell of {where} has the option {key!r}; "
                         "option paths are train.<field> and method|model|dataset.<name>.<field>")
    return SpecError(
        f"--only {key}={_shown(key, value)}: no cell of {where} has {key} "
        f"{_shown(key, value)!r}{did_you_mean(_shown(key, value), shown)}; "
        f"its {key} values: {listing}")


def check(specs: Iterable[Spec], only: Iterable[str], where: str) -> dict[str, set[str]]:
    """The parsed filters; a value that no cell or seed of ``specs`` has is a SpecError
    naming the values there are (``where`` names the spec file in the message). Option
    paths (``train.lr=0.1``) come back as the ids of the cells they match, so that tables
    without a column for the option are filtered alike."""
    specs = list(specs)
    filters = parse_filters(only)
    if not filters:
        return filters
    known = grid_values(specs)
    out: dict[str, set[str]] = {}
    for key, wanted in filters.items():
        if "." in key:
            values, ids = _path_values(specs, key)
            for value in sorted(wanted):
                if value not in ids:
                    raise _refuse(key, value, values, where)
            matched = set().union(*(ids[v] for v in wanted))
            out["id"] = out["id"] & matched if "id" in out else matched
            continue
        for value in sorted(wanted):
            if value not in known[key]:
                raise _refuse(key, value, known[key], where)
        out[key] = out[key] & wanted if key in out else set(wanted)
    return out


def select(df: pd.DataFrame, filters: dict[str, set[str]]) -> pd.DataFrame:
    """The rows of ``df`` (a table with the run key columns) that ``filters`` match."""
    keep = pd.Series(True, index=df.index)
    for key, wanted in filters.items():
        column = df[COLUMN[key]]
        keep &= column.map(lambda v, k=key, w=wanted: not pd.isna(v) and _text(k, v) in w)
    return df[keep]
