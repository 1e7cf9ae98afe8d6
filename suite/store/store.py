"""The results store: specs, cells and runs in SQLite or PostgreSQL, and the claims that
let many runners on many hosts share one grid.

A (cell, seed) is claimed with one atomic statement (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, an IMMEDIATE transaction on SQLite) and held under a lease that ends on
the database's clock unless the holder renews it. Every later write of the holder
(renewal, result, release) names its owner and attempt number and is refused once the
run has moved to another claim (fencing), so a worker that was cut off can never store
its result over the new holder's. A run whose lease ran out ``max_takeovers`` times in
a row is stored as failed instead of being claimed forever.
"""

from __future__ import annotations

import json
import os
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Connection, and_, case, false, func, null, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from suite.errors import StoreError
from suite.store import migrate
from suite.store.engine import DB_NAME, READ_ONLY, make_engine, redact, sqlite_path, store_url
from suite.store.schema import cells, db_now, runs, spec_cells, specs

T = TypeVar("T")
#: How long store operations retry a dropped connection or a locked SQLite file.
RECONNECT_SECONDS = 120.0
#: Claims in a row that may end with the lease running out before a run is failed.
MAX_TAKEOVERS = 2
_CHUNK = 400  # (cell, seed) pairs per statement: well under every bind-parameter limit
_RUN_COLUMNS = (runs.c.cell_id, runs.c.seed, runs.c.status, runs.c.owner, runs.c.heartbeat,
                runs.c.started, runs.c.finished, runs.c.attempts, runs.c.error, runs.c.result)


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


@dataclass(frozen=True)
class Claim:
    """A claim held on (cell, seed): ``attempt`` is the fencing token of every write."""

    cell_id: str
    seed: int
    owner: str
    attempt: int
    lease: float


@dataclass(frozen=True)
class Lease:
    """Who holds a run and for how much longer (database clock), without its record."""

    status: str
    owner: str | None
    attempts: int
    seconds_left: float | None


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Store:
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

    def _open(self, url: URL, *, create: bool) -> None:
        self.url, self.read_only = url, not create
        path = sqlite_path(url)
        self.root: Path | None = path.parent if path else None
        self.where = str(path) if path else redact(url)
        immutable = False
        if path is not None:
            immutable = self._check_sqlite_file(path, create)
        self.engine = make_engine(url, read_only=not create, immutable=immutable)
        # closed however the process ends, so SQLite removes its -wal and -shm files
        weakref.finalize(self, self.engine.dispose)
        try:
            if create:
                migrate.upgrade(self.engine, self.where)
                self.version: int | None = migrate.SCHEMA_VERSION
            else:
                with self._read() as conn:
                    self.version = migrate.stored_version(conn)
                if self.version is not None:
                    migrate.refuse_newer(self.version, self.where)
        except StoreError:
            self.engine.dispose()
            raise
        except (DBAPIError, SQLAlchemyError) as exc:
            self.engine.dispose()
            raise self._open_error(exc) from None

    def _check_sqlite_file(self, path: Path, create: bool) -> bool:
        """Refuse what is not a store before SQLite sees it; True when the file must be
        opened immutable (nobody may write here)."""
        if path.is_file() and path.stat().st_size == 0:
            raise StoreError(
                f"the results store {path} is an empty file (0 bytes): it was truncated or "
                "copied incompletely, so it is not taken for a new store. Restore it from a "
                f"backup, or move it aside (mv {path} {path}.empty) to start a new store")
        if not path.exists():
            if not create:
                raise StoreError(f"no results store at {path}; run `suite run SPEC` first or point "
                                 "--results (or SUITE_RESULTS, --store, SUITE_STORE) at an existing one")
            self._create_sqlite(path)
            return False
        return not create and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))

    def _create_sqlite(self, path: Path) -> None:
        """Create a new SQLite store whole, beside ``path``, and link it into place: a
        store file is never seen half made (so an empty one always means damage), and
        of several runners creating it at once, one wins and the others open its file."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the results directory {path.parent}: {exc}") from None
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.new")
        engine = make_engine(URL.create("sqlite", database=str(tmp)))
        try:
            migrate.upgrade(engine, str(path))
            engine.dispose()
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create the results store {path}: {exc}") from None
        except (DBAPIError, SQLAlchemyError) as exc:
            raise StoreError(f"cannot create the results store {path}: {exc}") from None
        finally:
            engine.dispose()
            for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                leftover.unlink(missing_ok=True)

    def _open_error(self, exc: Exception) -> StoreError:
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        if self.root is not None:
            return StoreError(
                f"cannot use the results store {self.where}: {detail}. If the file is damaged, "
                f"restore it from a backup or move it aside (mv {self.where} {self.where}.bad) "
                "and run again; a new store is created in its place")
        return StoreError(
            f"cannot reach the store {self.where}: {detail}. Check the URL in --store or "
            "SUITE_STORE (user, password, host, port, database) and that the server runs "
            "and accepts connections from this host")

    def close(self) -> None:
        self.engine.dispose()

    # ----- connections, retries and errors -----------------------------------------
    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            yield conn

    def _transient(self, exc: DBAPIError) -> bool:
        if exc.connection_invalidated:
            return True
        if self.engine.dialect.name == "postgresql":
            import psycopg

            return isinstance(exc.orig, psycopg.OperationalError)
        message = str(exc.orig).lower()
        return "locked" in message or "busy" in message

    def _retrying(self, fn: Callable[[], T], *, write: bool, within: float | None = None) -> T:
        """Run ``fn``; a dropped connection (server restart, network) or a locked SQLite
        file is retried for ``within`` seconds (default ``RECONNECT_SECONDS``) before it
        becomes a StoreError."""
        deadline = time.monotonic() + (RECONNECT_SECONDS if within is None else within)
        delay = 0.1
        while True:
            try:
                return fn()
            except DBAPIError as exc:
                if not self._transient(exc) or time.monotonic() > deadline:
                    raise self._failure(exc, write) from None
            except SQLAlchemyError as exc:  # e.g. the pool timed out waiting for its connection
                if time.monotonic() > deadline:
                    raise self._failure(exc, write) from None
            time.sleep(delay)
            delay = min(2 * delay, 5.0)

    def _failure(self, exc: Exception, write: bool) -> StoreError:
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        if write:
            return StoreError(f"cannot write to the results store {self.where}: {detail}. Check "
                              "free disk space, permissions and the connection; stored results "
                              "are kept")
        return StoreError(f"cannot read the results store {self.where}: {detail}")

    def _write(self, fn: Callable[[Connection], T], within: float | None = None) -> T:
        def attempt() -> T:
            with self.engine.begin() as conn:
                return fn(conn)
        return self._retrying(attempt, write=True, within=within)

    def _query(self, fn: Callable[[Connection], T]) -> T:
        def attempt() -> T:
            with self._read() as conn:
                return fn(conn)
        return self._retrying(attempt, write=False)

    def _insert(self, table):
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def now(self) -> float:
        """The database clock, epoch seconds."""
        return self._query(lambda c: float(c.execute(select(db_now())).scalar_one()))

    # ----- specs and cells -----------------------------------------------------------
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
            for chunk in _chunks(rows):
                conn.execute(self._insert(cells).on_conflict_do_nothing(index_elements=["id"]), chunk)
            placed = [{"digest": spec.digest, "cell_id": c.id, "position": i}
                      for i, c in enumerate(cells_)]
            for chunk in _chunks(placed):
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

    def cells_of(self, digest: str) -> list[tuple[str, dict[str, Any]]]:
        """(cell id, canonical cell) of each cell a stored spec declares, in spec order."""
        if self.version is None:
            return []
        stmt = (select(cells.c.id, cells.c.canonical)
                .join(spec_cells, spec_cells.c.cell_id == cells.c.id)
                .where(spec_cells.c.digest == digest).order_by(spec_cells.c.position))
        return [(r[0], json.loads(r[1])) for r in self._query(lambda c: c.execute(stmt).all())]

    # ----- reading runs --------------------------------------------------------------
    @staticmethod
    def _row(r: Any) -> RunRow:
        return RunRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                      json.loads(r[9]) if r[9] else None)

    def run(self, cell_id: str, seed: int) -> RunRow:
        """The stored state of (cell, seed); status 'pending' when nothing is stored."""
        if self.version is None:
            return RunRow(cell_id, seed, "pending")
        stmt = select(*_RUN_COLUMNS).where(runs.c.cell_id == cell_id, runs.c.seed == seed)
        row = self._query(lambda c: c.execute(stmt).first())
        return self._row(row) if row else RunRow(cell_id, seed, "pending")

    def runs(self) -> dict[tuple[str, int], RunRow]:
        """Every stored run, keyed by (cell id, seed)."""
        if self.version is None:
            return {}
        rows = self._query(lambda c: c.execute(select(*_RUN_COLUMNS)).all())
        return {(r[0], r[1]): self._row(r) for r in rows}

    def leases(self) -> dict[tuple[str, int], Lease]:
        """Status, holder and the seconds left on its lease of every stored run (what a
        runner polls; the result records are not read)."""
        left = case((runs.c.lease_until.is_(None), null()), else_=runs.c.lease_until - db_now())
        stmt = select(runs.c.cell_id, runs.c.seed, runs.c.status, runs.c.owner, runs.c.attempts, left)
        rows = self._query(lambda c: c.execute(stmt).all())
        return {(r[0], r[1]): Lease(r[2], r[3], r[4], r[5]) for r in rows}

    def active_owners(self) -> set[str]:
        """The owners of claims whose lease has not run out: the runners working now."""
        stmt = select(runs.c.owner).distinct().where(runs.c.status == "running",
                                                     runs.c.lease_until >= db_now())
        return {r[0] for r in self._query(lambda c: c.execute(stmt).all()) if r[0]}

    # ----- claims --------------------------------------------------------------------
    def enqueue(self, pairs: Iterable[tuple[str, int]]) -> None:
        """Make sure a row exists for each (cell id, seed); new rows are pending."""
        rows = [{"cell_id": c, "seed": s, "status": "pending", "attempts": 0, "takeovers": 0}
                for c, s in pairs]

        def write(conn: Connection) -> None:
            stmt = self._insert(runs).on_conflict_do_nothing(index_elements=["cell_id", "seed"])
            for chunk in _chunks(rows):
                conn.execute(stmt, chunk)
        if rows:
            self._write(write)

    @staticmethod
    def _claimable(table, retry_failed: bool, max_takeovers: int):
        expired = or_(table.c.lease_until.is_(None), table.c.lease_until < db_now())
        return or_(table.c.status == "pending",
                   and_(table.c.status == "running", expired, table.c.takeovers < max_takeovers),
                   (table.c.status == "failed") if retry_failed else false())

    def claim_next(self, pairs: Sequence[tuple[str, int]], owner: str, *, lease: float,
                   digest: str | None = None, retry_failed: bool = False,
                   max_takeovers: int = MAX_TAKEOVERS) -> Claim | None:
        """Claim the first claimable run among ``pairs`` (in the spec's order when
        ``digest`` names it): pending, failed with ``retry_failed``, or running under a
        lease that ran out. Rows must exist (:meth:`enqueue`). None when none is free."""
        for chunk in _chunks(list(pairs)):
            claim = self._write(lambda conn, chunk=chunk: self._claim_in(
                conn, chunk, owner, lease, digest, retry_failed, max_takeovers))
            if claim is not None:
                return claim
        return None

    def _claim_in(self, conn: Connection, chunk: Sequence[tuple[str, int]], owner: str,
                  lease: float, digest: str | None, retry_failed: bool,
                  max_takeovers: int) -> Claim | None:
        cand = runs.alias("candidate")
        pick = select(cand.c.cell_id, cand.c.seed).where(
            tuple_(cand.c.cell_id, cand.c.seed).in_(list(chunk)),
            self._claimable(cand, retry_failed, max_takeovers))
        if digest is not None:
            pick = (pick.join(spec_cells, and_(spec_cells.c.cell_id == cand.c.cell_id,
                                               spec_cells.c.digest == digest))
                    .order_by(spec_cells.c.position, cand.c.seed))
        else:
            pick = pick.order_by(cand.c.cell_id, cand.c.seed)
        pick = pick.limit(1).with_for_update(skip_locked=True, of=cand)
        now = db_now()
        taken_over = and_(runs.c.status == "running", runs.c.owner != owner)
        stmt = (update(runs)
                .where(tuple_(runs.c.cell_id, runs.c.seed).in_(pick),
                       self._claimable(runs, retry_failed, max_takeovers))
                .values(status="running", owner=owner, heartbeat=now, started=now, finished=None,
                        lease_until=now + lease, attempts=runs.c.attempts + 1,
                        takeovers=case((taken_over, runs.c.takeovers + 1),
                                       (runs.c.status == "failed", 0), else_=runs.c.takeovers))
                .returning(runs.c.cell_id, runs.c.seed, runs.c.attempts))
        row = conn.execute(stmt).first()
        return Claim(row[0], row[1], owner, row[2], lease) if row else None

    def claim(self, cell_id: str, seed: int, owner: str, *, lease: float = 300.0,
              retry_failed: bool = False, max_takeovers: int = MAX_TAKEOVERS) -> Claim | None:
        """Claim one (cell, seed) (see :meth:`claim_next`)."""
        self.enqueue([(cell_id, seed)])
        return self.claim_next([(cell_id, seed)], owner, lease=lease, retry_failed=retry_failed,
                               max_takeovers=max_takeovers)

    def _ours(self, claim: Claim, *statuses: str):
        return and_(runs.c.cell_id == claim.cell_id, runs.c.seed == claim.seed,
                    runs.c.owner == claim.owner, runs.c.attempts == claim.attempt,
                    runs.c.status.in_(statuses or ("running",)))

    def _fenced(self, stmt, within: float | None = None) -> bool:
        return self._write(lambda conn: conn.execute(stmt).rowcount == 1, within)

    def heartbeat(self, claim: Claim, *, within: float | None = None) -> bool:
        """Renew the lease; False when the run is no longer ours (fenced). A dropped
        connection is retried for ``within`` seconds, then raises StoreError."""
        now = db_now()
        return self._fenced(update(runs).where(self._ours(claim))
                            .values(heartbeat=now, lease_until=now + claim.lease), within)

    def finish(self, claim: Claim, status: str, result: dict[str, Any] | None,
               error: str | None = None) -> bool:
        """Store the outcome ('done' or 'failed') of our claim. False, and nothing
        written, when the claim was taken over: the new holder's result counts."""
        if status not in ("done", "failed"):
            raise ValueError(f"finish() takes 'done' or 'failed', not {status!r}")
        record = json.dumps(result) if result is not None else None
        # status may already be ours when a retry follows a commit whose reply was lost
        return self._fenced(update(runs).where(self._ours(claim, "running", status)).values(
            status=status, finished=db_now(), error=error, result=record, heartbeat=None,
            lease_until=None, takeovers=0))

    def release(self, claim: Claim, *, within: float | None = None) -> bool:
        """Give the claim back without a result (interrupted): pending again."""
        return self._fenced(update(runs).where(self._ours(claim)).values(
            status="pending", owner=None, heartbeat=None, lease_until=None, started=None), within)

    def expire(self, cell_id: str, seed: int, owner: str, attempt: int) -> bool:
        """End the lease of a holder known to be dead (a process of this host that is
        gone), so the run can be claimed at once instead of after its lease."""
        return self._fenced(update(runs).where(
            runs.c.cell_id == cell_id, runs.c.seed == seed, runs.c.owner == owner,
            runs.c.attempts == attempt, runs.c.status == "running").values(lease_until=0.0))

    def abandon(self, max_takeovers: int = MAX_TAKEOVERS) -> list[tuple[str, int]]:
        """Store as failed each run whose lease ran out after ``max_takeovers``
        takeovers in a row: every holder died, so another try would likely die too."""
        stmt = select(runs.c.cell_id, runs.c.seed, runs.c.owner, runs.c.attempts).where(
            runs.c.status == "running", runs.c.lease_until < db_now(),
            runs.c.takeovers >= max_takeovers)
        gone = []
        for cell_id, seed, owner, attempts in self._query(lambda c: c.execute(stmt).all()):
            claim = Claim(cell_id, seed, owner, attempts, 0.0)
            error = (f"abandoned after {attempts} attempts: each holder stopped renewing its "
                     f"lease (killed, out of memory or cut off; the last was {owner}). Read its "
                     "log, then `suite run --retry-failed` runs it again")
            if self._fenced(update(runs).where(self._ours(claim), runs.c.lease_until < db_now())
                            .values(status="failed", finished=db_now(), error=error,
                                    lease_until=None, result=None)):
                gone.append((cell_id, seed))
        return gone

    def count(self) -> int:
        """Number of stored runs."""
        if self.version is None:
            return 0
        return int(self._query(lambda c: c.execute(select(func.count()).select_from(runs)).scalar_one()))
