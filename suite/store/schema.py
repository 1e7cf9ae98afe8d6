"""The store's tables (SQLAlchemy Core, one definition for SQLite and PostgreSQL) and
the database clock.

``meta`` (the schema version, read by every release to refuse a store it does not
know), ``specs`` (each spec text that was run), ``cells`` (canonical cells by id),
``spec_cells`` (which cells a spec declares, in order), ``runs`` (one row per
(cell, seed): status, claim, lease and the result record) and ``measurements`` (since
version 3: timings of a run's final model, one record per (cell, seed, machine), read and
written by :mod:`suite.store.measurements`). The tables change only
through the migrations in ``suite/store/migrations``; this module describes the newest.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, Table, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Float as FloatType

#: The schema this release writes; the alembic head revision carries the same number.
SCHEMA_VERSION = 3
STATUSES = ("pending", "running", "done", "failed")

metadata = MetaData()

meta = Table("meta", metadata,
             Column("key", Text, primary_key=True),
             Column("value", Text, nullable=False))

specs = Table("specs", metadata,
              Column("digest", Text, primary_key=True),
              Column("name", Text, nullable=False),
              Column("path", Text, nullable=False),
              Column("text", Text, nullable=False),
              Column("first_seen", Float(53), nullable=False),
              Column("last_run", Float(53), nullable=False))

cells = Table("cells", metadata,
              Column("id", Text, primary_key=True),
              Column("canonical", Text, nullable=False),
              Column("method", Text, nullable=False),
              Column("model", Text, nullable=False),
              Column("dataset", Text, nullable=False),
              Column("sparsity", Float(53), nullable=False))

spec_cells = Table("spec_cells", metadata,
                   Column("digest", Text, primary_key=True),
                   Column("cell_id", Text, primary_key=True),
                   Column("position", Integer, nullable=False))

runs = Table("runs", metadata,
             Column("cell_id", Text, primary_key=True),
             Column("seed", BigInteger, primary_key=True, autoincrement=False),
             Column("status", Text, nullable=False),
             Column("owner", Text),
             # database-clock epoch seconds: last renewal, start, end, and the lease's end
             Column("heartbeat", Float(53)),
             Column("started", Float(53)),
             Column("finished", Float(53)),
             Column("attempts", Integer, nullable=False, server_default="0"),
             Column("error", Text),
             Column("result", Text),
             Column("lease_until", Float(53)),
             # claims in a row that ended with the lease running out (the holder died)
             Column("takeovers", Integer, nullable=False, server_default="0"),
             Index("runs_by_status", "status"))

measurements = Table("measurements", metadata,
                     Column("cell_id", Text, primary_key=True),
                     Column("seed", BigInteger, primary_key=True, autoincrement=False),
                     # what the figures depend on: CPU or GPU model, capability, threads
                     Column("machine", Text, primary_key=True),
                     Column("format", Integer, nullable=False),
                     Column("measured", Float(53), nullable=False),  # database clock
                     Column("record", Text, nullable=False))


class db_now(FunctionElement):
    """The database server's clock as epoch seconds: leases are measured on it, so
    hosts whose clocks disagree still agree on who holds a run."""

    type = FloatType(53)
    inherit_cache = True


@compiles(db_now, "postgresql")
def _now_postgresql(element, compiler, **kw) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(db_now, "sqlite")
def _now_sqlite(element, compiler, **kw) -> str:
    # julianday('now') has millisecond resolution; SQLite runs on this host, so its
    # clock is the one every runner of a SQLite store shares
    return "((julianday('now') - 2440587.5) * 86400.0)"
