"""``suite store copy SRC DST``: every spec, cell and run of one store into another
(SQLite to PostgreSQL and back).

Nothing in the destination is lost: a run is copied when the destination has no row
for it or a row that is further behind (pending < failed < done), so a failure never
replaces a result and nothing replaces a done run. Claims are not copied: a run that
was running in the source arrives pending. Measurement records (``suite measure``,
schema version 3) are copied beside the destination's, one per (cell, seed, machine);
a record the destination has for the same machine is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from suite.store import measurements as measured
from suite.store.schema import cells, measurements, runs, spec_cells, specs
from suite.store.store import Store

_RANK = {"pending": 0, "running": 0, "failed": 1, "done": 2}


@dataclass
class CopySummary:
    specs: int = 0
    cells: int = 0
    runs_copied: int = 0
    runs_kept: int = 0  # the destination's row was as good or better
    measurements: int = 0  # measurement records in the source

    def describe(self) -> str:
        text = (f"{self.specs} specs, {self.cells} cells, {self.runs_copied} runs copied; "
                f"{self.runs_kept} runs kept as the destination had them")
        return text + (f"; {self.measurements} measurement records" if self.measurements else "")


def _rows(store: Store, table) -> list[dict]:
    if store.version is None:
        return []
    cols = [c for c in table.c if store.version >= 2 or c.name not in ("lease_until", "takeovers")]
    return [dict(r._mapping) for r in store._query(lambda c: c.execute(select(*cols)).all())]


def copy_store(src: Store, dst: Store) -> CopySummary:
    """Copy ``src`` into ``dst`` (opened for writing); returns what moved."""
    summary = CopySummary()
    spec_rows, cell_rows = _rows(src, specs), _rows(src, cells)
    placed, run_rows = _rows(src, spec_cells), _rows(src, runs)
    measured_rows = _rows(src, measurements) if measured.has_measurements(src) else []
    have = dst.leases()

    def write(conn) -> None:
        summary.runs_copied = summary.runs_kept = 0  # a retried transaction counts afresh
        for table, rows, keys in ((specs, spec_rows, ["digest"]), (cells, cell_rows, ["id"]),
                                  (spec_cells, placed, ["digest", "cell_id"])):
            for row in rows:
                conn.execute(dst._insert(table).values(**row).on_conflict_do_nothing(index_elements=keys))
        for row in run_rows:
            key = (row["cell_id"], row["seed"])
            mine = have.get(key)
            if mine is not None and _RANK[mine.status] >= _RANK[row["status"]]:
                summary.runs_kept += 1
                continue
            if row["status"] == "running":
                row.update(status="pending", owner=None, heartbeat=None, lease_until=None)
            row.setdefault("takeovers", 0)
            row["lease_until"] = None
            stmt = dst._insert(runs).values(**row)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["cell_id", "seed"],
                set_={k: stmt.excluded[k] for k in row if k not in ("cell_id", "seed")}))
            summary.runs_copied += 1
        for row in measured_rows:
            conn.execute(dst._insert(measurements).values(**row).on_conflict_do_nothing(
                index_elements=["cell_id", "seed", "machine"]))
    dst._write(write)
    summary.measurements = len(measured_rows)
    summary.specs, summary.cells = len(spec_rows), len(cell_rows)
    return summary
