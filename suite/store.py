"""The results store: SQLite (stdlib sqlite3, WAL) at ``<results>/suite.db``.

Tables: ``meta`` (schema version), ``specs`` (each spec text that was run), ``cells``
(canonical cells by id), ``spec_cells`` (which cells a spec declares) and ``runs``
(one row per (cell, seed): status, claim owner and heartbeat, the result record).
Per-run artifacts (log, checkpoints, curves) live in ``<results>/runs/<cell>/seed-<n>/``.

A (cell, seed) is claimed atomically before it runs, so several runners on one store
split the work; a claim whose heartbeat is older than ``stale_after`` seconds belonged
to a runner that died and may be taken over.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.errors import StoreError

SCHEMA_VERSION = 1
DB_NAME = "suite.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS specs (
    digest TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, text TEXT NOT NULL,
    first_seen REAL NOT NULL, last_run REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    id TEXT PRIMARY KEY, canonical TEXT NOT NULL, method TEXT NOT NULL, model TEXT NOT NULL,
    dataset TEXT NOT NULL, sparsity REAL NOT NULL);
CREATE TABLE IF NOT EXISTS spec_cells (
    digest TEXT NOT NULL, cell_id TEXT NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (digest, cell_id));
CREATE TABLE IF NOT EXISTS runs (
    cell_id TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL,
    owner TEXT, heartbeat REAL, started REAL, finished REAL, attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT, result TEXT,
    PRIMARY KEY (cell_id, seed));
"""

STATUSES = ("pending", "running", "done", "failed")


@dataclass(frozen=True)
class RunRow:
    """The stored state of one (cell, seed)."""

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


def owner_is_dead(owner: str | None) -> bool:
    """True when ``owner`` ("host:pid:tag") names a process of this host that is gone.
    Owners on other hosts are judged by their heartbeat alone."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def results_dir(option: str | os.PathLike | None) -> Path:
    """``--results DIR``, else ``$SUITE_RESULTS``, else ``./results``."""
    return Path(option or os.environ.get("SUITE_RESULTS") or "results")


class Store:
    """Access to one results directory. Open it with ``Store(path)``; it is created on
    first write (``create=True``) or refused with a clear message when unusable."""

    def __init__(self, root: str | os.PathLike, *, create: bool = True) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        if not self.db_path.exists() and not create:
            raise StoreError(f"no results store at {self.db_path}; run `suite run SPEC` first "
                             "or point --results (or SUITE_RESULTS) at an existing one")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use the results store {self.db_path}: {exc}. Check that "
                             "the directory is writable and the disk is not full") from None
        except OSError as exc:
            raise StoreError(f"cannot create the results directory {self.root}: {exc}") from None

    # ----- schema --------------------------------------------------------------------
    def _init_schema(self) -> None:
        with self._write():
            has_meta = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
            if has_meta:
                row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                found = int(row[0]) if row else None
                if found != SCHEMA_VERSION:
                    raise StoreError(
                        f"the results store {self.db_path} has schema version {found}, but this "
                        f"version of suite reads version {SCHEMA_VERSION}. Use the suite release "
                        "that wrote it, or point --results at a new directory"
                    )
            if not has_meta:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._conn.execute(statement)
                self._conn.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                                   (str(SCHEMA_VERSION),))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: concurrent writers queue instead of failing. Any
        database error (disk full, I/O, permissions) rolls it back and becomes a
        StoreError; what was committed before stays intact."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            yield self._conn
            self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._rollback()
            raise StoreError(f"cannot write to the results store {self.db_path}: {exc}. Check "
                             "free disk space and permissions; stored results are kept") from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass  # sqlite already rolled back (e.g. after an I/O error)

    def close(self) -> None:
        self._conn.close()

    # ----- specs and cells -----------------------------------------------------------
    def record_spec(self, spec: Any, cells: list[Any]) -> None:
        """Remember ``spec`` (its text) and the cells it declares."""
        now = time.time()
        with self._write() as c:
            c.execute(
                "INSERT INTO specs VALUES (?,?,?,?,?,?) ON CONFLICT(digest) DO UPDATE SET "
                "last_run=excluded.last_run, path=excluded.path",
                (spec.digest, spec.name, spec.path, spec.text, now, now))
            for pos, cell in enumerate(cells):
                c.execute("INSERT OR IGNORE INTO cells VALUES (?,?,?,?,?,?)",
                          (cell.id, json.dumps(cell.canonical(), sort_keys=True), cell.method,
                           cell.model, cell.dataset, cell.sparsity))
                c.execute("INSERT OR REPLACE INTO spec_cells VALUES (?,?,?)",
                          (spec.digest, cell.id, pos))

    def specs(self) -> list[dict[str, Any]]:
        """Every spec that was run against this store, oldest first."""
        rows = self._conn.execute(
            "SELECT digest, name, path, text, first_seen, last_run FROM specs ORDER BY first_seen")
        keys = ("digest", "name", "path", "text", "first_seen", "last_run")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # ----- runs ----------------------------------------------------------------------
    def run(self, cell_id: str, seed: int) -> RunRow:
        """The stored state of (cell, seed); status 'pending' when nothing is stored."""
        row = self._conn.execute(
            "SELECT cell_id, seed, status, owner, heartbeat, started, finished, attempts, error, "
            "result FROM runs WHERE cell_id=? AND seed=?", (cell_id, seed)).fetchone()
        return self._row(row) if row else RunRow(cell_id, seed, "pending")

    def runs(self) -> dict[tuple[str, int], RunRow]:
        """Every stored run, keyed by (cell id, seed)."""
        rows = self._conn.execute(
            "SELECT cell_id, seed, status, owner, heartbeat, started, finished, attempts, error, "
            "result FROM runs")
        return {(r[0], r[1]): self._row(r) for r in rows}

    def active_owners(self, fresh_within: float) -> set[str]:
        """The owners of running claims whose heartbeat is at most ``fresh_within``
        seconds old: the runners working on this store now."""
        rows = self._conn.execute(
            "SELECT DISTINCT owner FROM runs WHERE status='running' AND heartbeat >= ?",
            (time.time() - fresh_within,))
        return {r[0] for r in rows if r[0]}

    @staticmethod
    def _row(r: tuple) -> RunRow:
        return RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                      json.loads(r[9]) if r[9] else None)

    def claim(self, cell_id: str, seed: int, owner: str, *, retry_failed: bool = False,
              stale_after: float = 300.0) -> bool:
        """Atomically take (cell, seed) for ``owner``. True when it is now ours: it was
        pending, failed with ``retry_failed``, or running under a stale heartbeat or for a
        process of this host that no longer exists (killed)."""
        now = time.time()
        with self._write() as c:
            row = c.execute("SELECT status, heartbeat, owner FROM runs WHERE cell_id=? AND seed=?",
                            (cell_id, seed)).fetchone()
            if row is not None:
                status, beat, holder = row
                stale = status == "running" and (beat is None or now - beat > stale_after
                                                 or owner_is_dead(holder))
                if not (stale or (status == "failed" and retry_failed)):
                    return False
            c.execute(
                "INSERT INTO runs (cell_id, seed, status, owner, heartbeat, started, attempts) "
                "VALUES (?,?,'running',?,?,?,1) ON CONFLICT(cell_id, seed) DO UPDATE SET "
                "status='running', owner=excluded.owner, heartbeat=excluded.heartbeat, "
                "started=excluded.started, finished=NULL, attempts=runs.attempts+1",
                (cell_id, seed, owner, now, now))
            return True

    def heartbeat(self, cell_id: str, seed: int, owner: str) -> bool:
        """Refresh our claim; False if the claim is no longer ours."""
        with self._write() as c:
            cur = c.execute("UPDATE runs SET heartbeat=? WHERE cell_id=? AND seed=? AND owner=? "
                            "AND status='running'", (time.time(), cell_id, seed, owner))
            return cur.rowcount == 1

    def finish(self, cell_id: str, seed: int, owner: str, status: str,
               result: dict[str, Any] | None, error: str | None = None) -> None:
        """Store the outcome of our claimed run ('done' or 'failed')."""
        if status not in ("done", "failed"):
            raise ValueError(f"finish() takes 'done' or 'failed', not {status!r}")
        with self._write() as c:
            c.execute(
                "UPDATE runs SET status=?, finished=?, error=?, result=?, heartbeat=NULL "
                "WHERE cell_id=? AND seed=? AND owner=?",
                (status, time.time(), error, json.dumps(result) if result is not None else None,
                 cell_id, seed, owner))

    def release(self, cell_id: str, seed: int, owner: str) -> None:
        """Give back a claim without a result (interrupted): the run is pending again."""
        with self._write() as c:
            c.execute("DELETE FROM runs WHERE cell_id=? AND seed=? AND owner=? AND "
                      "status='running'", (cell_id, seed, owner))

    # ----- reading for reports -------------------------------------------------------
    def cells_of(self, digest: str) -> list[tuple[str, dict[str, Any]]]:
        """(cell id, canonical cell) of each cell a stored spec declares, in spec order."""
        rows = self._conn.execute(
            "SELECT c.id, c.canonical FROM spec_cells s JOIN cells c ON c.id = s.cell_id "
            "WHERE s.digest=? ORDER BY s.position", (digest,))
        return [(r[0], json.loads(r[1])) for r in rows]
