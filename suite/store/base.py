"""Opening a store and talking to its database: creating SQLite files whole, checking
schema versions, one connection per process, retries across dropped connections, and
errors that say what to do. :class:`suite.store.Store` builds on this."""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import URL, Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from suite.errors import StoreError
from suite.store import migrate
from suite.store.engine import READ_ONLY, make_engine, redact, sqlite_path
from suite.store.schema import db_now

T = TypeVar("T")
#: How long store operations retry a dropped connection or a locked SQLite file.
RECONNECT_SECONDS = 120.0
CHUNK = 400  # rows or (cell, seed) pairs per statement: well under every bind-parameter limit


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


class StoreBase:
    """A database connection with the store's schema checked: ``where`` names it in
    messages, ``root`` is the SQLite file's directory (None for PostgreSQL), ``version``
    the schema version found (None for an empty database)."""

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
