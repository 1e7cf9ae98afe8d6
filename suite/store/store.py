"""The results store: specs, cells and runs in SQLite or PostgreSQL (see
:mod:`suite.store.base` for connections, :mod:`suite.store.claims` for how runners
share a grid)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, func, select

from suite.result import ResultRecord
from suite.store.base import chunks
from suite.store.claims import MAX_TAKEOVERS, Claim, Claims, Lease
from suite.store.engine import DB_NAME, store_url
from suite.store.schema import cells, runs, spec_cells, specs

__all__ = ["MAX_TAKEOVERS", "Claim", "Lease", "RunRow", "Store"]
_RUN_COLUMNS = (runs.c.cell_id, runs.c.seed, runs.c.status, runs.c.owner, runs.c.heartbeat,
                runs.c.started, runs.c.finished, runs.c.attempts, runs.c.error, runs.c.result)


@dataclass(frozen=True)
class RunRow:
    """The stored state of one (cell, seed). ``result`` is the stored JSON: the result
    record of a done run, what is known of a failed one; :attr:`record` reads the former."""

    cell_id: str
    seed: int
    status: str
    owner: str | None = None
    heartbeat: float | None = None
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    error: str | None = None
    result: dict[str, Any] | None = None

    @property
    def record(self) -> ResultRecord | None:
        """The result record of a done run (upgraded from an older format when it is
        one; refused when newer); None for a run that is not done."""
        if self.status != "done" or not self.result:
            return None
        return ResultRecord.from_json(self.result)


class Store(Claims):
    """One results store. ``Store(results_dir)`` opens the SQLite file under a results
    directory; :meth:`Store.open` takes a URL. Opening for writing creates or upgrades
    the schema; ``create=False`` only reads and never changes the file (a read-only
    directory or mount works)."""

    def __init__(self, root: str | Path, *, create: bool = True) -> None:
        self._open(URL.create("sqlite", database=str(Path(root) / DB_NAME)), create=create)

    @classmethod
    def open(cls, url: str | URL, *, create: bool = True) -> Store:
        """The store at ``url`` (``postgresql://...`` or ``sqlite:///PATH``)."""
        store = cls.__new__(cls)
        store._open(store_url(url, None) if isinstance(url, str) else url, create=create)
        return store

    def record_spec(self, spec: Any, cells_: list[Any]) -> None:
        """Remember ``spec`` (its text) and the cells it declares."""
        def write(conn: Connection) -> None:
            now = time.time()
            stmt = self._insert(specs).values(digest=spec.digest, name=spec.name, path=spec.path,
                                              text=spec.text, first_seen=now, last_run=now)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["digest"],
                set_={"last_run": stmt.excluded.last_run, "path": stmt.excluded.path}))
            rows = [{"id": c.id, "canonical": json.dumps(c.canonical(), sort_keys=True),
                     "method": c.method, "model": c.model, "dataset": c.dataset,
                     "sparsity": c.sparsity} for c in cells_]
            for chunk in chunks(rows):
                conn.execute(self._insert(cells).on_conflict_do_nothing(index_elements=["id"]), chunk)
            placed = [{"digest": spec.digest, "cell_id": c.id, "position": i}
                      for i, c in enumerate(cells_)]
            for chunk in chunks(placed):
                stmt = self._insert(spec_cells)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["digest", "cell_id"],
                    set_={"position": stmt.excluded.position}), chunk)
        self._write(write)

    def specs(self) -> list[dict[str, Any]]:
        """Every spec that was run against this store, oldest first."""
        if self.version is None:
            return []
        cols = (specs.c.digest, specs.c.name, specs.c.path, specs.c.text, specs.c.first_seen,
                specs.c.last_run)
        rows = self._query(lambda c: c.execute(select(*cols).order_by(specs.c.first_seen)).all())
        return [dict(zip(("digest", "name", "path", "text", "first_seen", "last_run"), r,
                         strict=True)) for r in rows]

    @staticmethod
    def _row(r: Any) -> RunRow:
        return RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                      json.loads(r[9]) if r[9] else None)

    def runs(self) -> dict[tuple[str, int], RunRow]:
        """Every stored run, keyed by (cell id, seed)."""
        if self.version is None:
            return {}
        rows = self._query(lambda c: c.execute(select(*_RUN_COLUMNS)).all())
        return {(r[0], r[1]): self._row(r) for r in rows}

    def count(self) -> int:
        """Number of stored runs."""
        if self.version is None:
            return 0
        return int(self._query(lambda c: c.execute(select(func.count()).select_from(runs)).scalar_one()))
