"""``--only KEY=VALUE`` on ``run``, ``plan``, ``report`` and ``export``.

:func:`check` refuses a value that no cell or seed of the specs has, naming the values
there are with a did-you-mean (``--only method=densee``); :func:`select` keeps the rows
of a per-run, per-epoch, per-update or per-layer table that a filter matches, with the
runner's rule: the same key given twice means any of its values, different keys all.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from suite.errors import SpecError
from suite.grid import expand
from suite.registry import did_you_mean
from suite.runner import parse_filters
from suite.spec import Spec

#: The column of a report or export table that each --only key compares with.
COLUMN = {"method": "method", "model": "model", "dataset": "dataset", "sparsity": "sparsity",
          "seed": "seed", "id": "cell_id"}


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


def check(specs: Iterable[Spec], only: Iterable[str], where: str) -> dict[str, set[str]]:
    """The parsed filters; a value that no cell or seed of ``specs`` has is a SpecError
    naming the values there are (``where`` names the spec file in the message)."""
    filters = parse_filters(only)
    if not filters:
        return filters
    known = grid_values(specs)
    for key, wanted in filters.items():
        for value in sorted(wanted):
            if value in known[key]:
                continue
            shown = [_shown(key, v) for v in known[key]]
            listing = ", ".join(shown[:20]) + (f", ... ({len(shown)} in all)" if len(shown) > 20 else "")
            raise SpecError(
                f"--only {key}={_shown(key, value)}: no cell of {where} has {key} "
                f"{_shown(key, value)!r}{did_you_mean(_shown(key, value), shown)}; "
                f"its {key} values: {listing}")
    return filters


def select(df: pd.DataFrame, filters: dict[str, set[str]]) -> pd.DataFrame:
    """The rows of ``df`` (a table with the run key columns) that ``filters`` match."""
    keep = pd.Series(True, index=df.index)
    for key, wanted in filters.items():
        column = df[COLUMN[key]]
        keep &= column.map(lambda v, k=key, w=wanted: not pd.isna(v) and _text(k, v) in w)
    return df[keep]
