"""Schema versions: create a new store, upgrade an older one (alembic), refuse a newer.

Version 1 stores predate the migrations: they have ``meta.schema_version = 1`` and no
``alembic_version`` table, and are stamped with revision 0001 before upgrading. Every
migration also writes its number to ``meta.schema_version``, so that older releases,
which read only that, refuse a store they cannot use. Readers never migrate: a store
one version behind is read as it is (the columns that reads use exist since version 1).
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text

from suite.errors import StoreError
from suite.store.schema import SCHEMA_VERSION

MIGRATIONS = Path(__file__).with_name("migrations")
#: Serializes concurrent first opens of one PostgreSQL store (many workers at once).
_PG_LOCK_KEY = 0x5317E5
#: Alembic loads its scripts into shared module state: one migration per process at a time.
_IN_PROCESS = threading.Lock()


def _alembic(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def stored_version(conn: Connection) -> int | None:
    """The schema version written in the store; None for an empty database."""
    tables = set(inspect(conn).get_table_names())
    if "meta" not in tables:
        return None
    row = conn.execute(text("SELECT value FROM meta WHERE key='schema_version'")).fetchone()
    if row is None:
        raise StoreError("the store has a meta table but no schema version: it was not written "
                         "by suite")
    return int(row[0])


def refuse_newer(found: int, where: str) -> None:
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the results store {where} has schema version {found}, but this version of suite "
            f"reads version {SCHEMA_VERSION}. Use the suite release that wrote it, or point "
            "--results (or --store) at a new one")


def upgrade(engine: Engine, where: str) -> int:
    """Bring the store to ``SCHEMA_VERSION`` (creating it when empty); returns the version
    found before. Safe when many processes open a new store at once."""
    with _IN_PROCESS, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        found = stored_version(conn)
        if found is not None:
            refuse_newer(found, where)
            if found == SCHEMA_VERSION:
                return found
            if "alembic_version" not in inspect(conn).get_table_names():
                command.stamp(_alembic(conn), f"{found:04d}")
        command.upgrade(_alembic(conn), "head")
        return found or 0
