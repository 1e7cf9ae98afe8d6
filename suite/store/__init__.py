"""The results store (SQLite by default, PostgreSQL by URL) and where runs' artifacts go.

    from suite.store import Store, open_store
    store = open_store(None, "results")                 # results/suite.db
    store = open_store("postgresql://suite@db/pruning", "/shared/results")

Per-run artifacts (log, checkpoints, curves) live under the results directory, in
``runs/<cell>/seed-<n>/``, whatever the store: on a cluster a shared filesystem path.
"""

from __future__ import annotations

from suite.store.engine import DB_NAME, redact, results_dir, store_url
from suite.store.schema import SCHEMA_VERSION, STATUSES
from suite.store.store import MAX_TAKEOVERS, Claim, Lease, RunRow, Store


def open_store(url: str | None, results: str | None, *, create: bool = True) -> Store:
    """The store of a command: ``--store``/``$SUITE_STORE``, else SQLite under the results
    directory. ``create=False`` opens for reading only and never changes the store."""
    return Store.open(store_url(url, results), create=create)


def open_existing(url: str | None, results: str | None) -> Store | None:
    """The store opened for reading, or None when nothing is stored there yet (no SQLite
    file, or an empty database)."""
    location = store_url(url, results)
    if location.get_backend_name() == "sqlite":
        from pathlib import Path

        if not Path(location.database).exists():
            return None
    store = Store.open(location, create=False)
    return store if store.version is not None else None


__all__ = ["DB_NAME", "MAX_TAKEOVERS", "SCHEMA_VERSION", "STATUSES", "Claim", "Lease", "RunRow",
           "Store", "open_existing", "open_store", "redact", "results_dir", "store_url"]
