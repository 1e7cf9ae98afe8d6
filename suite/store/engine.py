"""Where the store is and how to connect to it.

``--store URL``, else ``$SUITE_STORE``, else the SQLite file ``suite.db`` under the
results directory (``--results``, else ``$SUITE_RESULTS``, else ``./results``).
``postgresql://user:password@host[:port]/database`` selects PostgreSQL (psycopg 3).

Each process holds one connection (a pool of one), so a hundred workers cost a hundred
connections; a dropped connection is replaced when the store retries the operation.
SQLite transactions that write start with ``BEGIN IMMEDIATE``, so concurrent writers
queue on the busy timeout instead of failing halfway.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError

from suite.errors import StoreError

DB_NAME = "suite.db"
#: Execution option of a connection that only reads (SQLite: a deferred BEGIN).
READ_ONLY = "suite_read_only"
SQLITE_BUSY_SECONDS = 60
#: PostgreSQL: how long a connection attempt may take, and how soon a dead peer (a cut
#: link) is noticed on an open connection.
CONNECT_TIMEOUT_SECONDS = 10
TCP_USER_TIMEOUT_MS = 15_000


def results_dir(option: str | os.PathLike | None) -> Path:
    """``--results DIR``, else ``$SUITE_RESULTS``, else ``./results``."""
    return Path(option or os.environ.get("SUITE_RESULTS") or "results")


def store_url(option: str | None, results: str | os.PathLike | None) -> URL:
    """The store a command uses: ``--store``, else ``$SUITE_STORE``, else SQLite under
    the results directory. Refuses URLs of other databases with the allowed forms."""
    text = option or os.environ.get("SUITE_STORE")
    if not text:
        return URL.create("sqlite", database=str(results_dir(results) / DB_NAME))
    try:
        url = make_url(text)
    except ArgumentError:
        raise StoreError(f"--store / SUITE_STORE = {text!r} is not a database URL; use "
                         "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE or "
                         "sqlite:///PATH/suite.db") from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and url.database:
        return url.set(drivername="sqlite")
    raise StoreError(f"--store / SUITE_STORE = {redact(url)!r}: the store must be "
                     "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE or sqlite:///PATH "
                     f"(got a {backend!r} URL{'' if url.database else ' without a path'})")


def redact(url: URL) -> str:
    """The URL for messages, as a user writes it: never the password, nor the driver."""
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for other databases."""
    return Path(url.database) if url.get_backend_name() == "sqlite" else None


def make_engine(url: URL, *, read_only: bool = False, immutable: bool = False) -> Engine:
    """An engine with a single connection. ``read_only`` leaves a SQLite file exactly
    as it is (no journal-mode change); ``immutable`` opens one that nobody can write now
    (a read-only directory or mount) without locking it."""
    # no pre-ping: a statement on a dropped connection fails as "invalidated" and the
    # store retries it on a new one, which saves a round trip on every operation
    common = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 120}
    if url.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401 - an optional dependency, needed for PostgreSQL only
        except ImportError:
            raise StoreError(f"the store {redact(url)} is PostgreSQL, which needs psycopg: "
                             "pip install 'pruning-suite[cluster]'") from None
        return create_engine(url, **common, connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS, "application_name": "pruning-suite",
            "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
            "keepalives_count": 3, "tcp_user_timeout": TCP_USER_TIMEOUT_MS})
    path = Path(url.database).absolute()
    if immutable:
        engine = create_engine(f"sqlite:///file:{path}?immutable=1&uri=true", **common,
                               connect_args={"check_same_thread": False})
    else:
        engine = create_engine(URL.create("sqlite", database=str(path)), **common,
                               connect_args={"timeout": SQLITE_BUSY_SECONDS,
                                             "check_same_thread": False})
    _sqlite_transactions(engine, wal=not (immutable or read_only))
    return engine


def _sqlite_transactions(engine: Engine, *, wal: bool) -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions: IMMEDIATE for
    writers (they take the write lock up front), deferred for readers."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, record) -> None:
        dbapi_conn.isolation_level = None
        if wal:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
