"""The rounds of runs of several rounds (lottery tickets: ``rounds`` in their records),
one row per cell and round: the sparsity the round trained at and its top-1 at the
round's end, over the finished seeds. The HTML report shows them under the table."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from suite.runs import done_records
from suite.spec import Spec
from suite.store import Store


@dataclass(frozen=True)
class RoundRow:
    """One round of one cell: means over its ``seeds`` finished runs (``top1_std`` is
    None for one seed)."""

    model: str
    dataset: str
    method: str
    target: float
    round: int
    rounds: int
    sparsity: float
    top1: float
    top1_std: float | None
    seeds: int


def rows(spec: Spec, store: Store | None, cell_ids: Iterable[str]) -> list[RoundRow]:
    """The round rows of the finished runs of ``spec`` among ``cell_ids``, in the
    spec's order, rounds ascending; empty where no run has more than one round."""
    wanted = set(cell_ids)
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for cell, _seed, record in done_records(spec, store):
        if cell.id not in wanted or not record.rounds:
            continue
        for r in record.rounds:
            entry = found.setdefault((cell.id, r["round"]), {
                "cell": cell, "rounds": len(record.rounds), "top1": [], "sparsity": []})
            entry["top1"].append(r["top1"])
            entry["sparsity"].append(r["sparsity"])
    out = []
    for (_, number), e in found.items():
        c, top1 = e["cell"], e["top1"]
        out.append(RoundRow(c.model, c.dataset, c.method, c.sparsity, number, e["rounds"],
                            statistics.fmean(e["sparsity"]), statistics.fmean(top1),
                            statistics.stdev(top1) if len(top1) > 1 else None, len(top1)))
    return out
