"""Measurement records of ``suite measure`` in the store's ``measurements`` table
(schema version 3): one per (cell, seed, machine), so that a run timed on two machines
keeps both records.

Stores of version 2 and older have no such table; reading them returns no
measurements and never changes them (readers do not migrate).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, inspect, select

from suite.errors import StoreError
from suite.store.schema import db_now, measurements
from suite.store.store import Store

#: The measurement record format this release writes and reads.
FORMAT = 1


def has_measurements(store: Store | None) -> bool:
    """Whether ``store`` has the ``measurements`` table (schema version 3 or newer)."""
    if store is None or store.version is None or store.version < 3:
        return False
    return store._query(lambda c: "measurements" in inspect(c).get_table_names())


def put(store: Store, cell_id: str, seed: int, machine: str, record: dict[str, Any]) -> None:
    """Store ``record`` for (cell, seed) as measured on ``machine``, replacing an earlier
    record of the same machine only. The store must be open for writing."""
    if store.read_only:
        raise StoreError(f"the results store {store.where} is open for reading only")
    if record.get("format") != FORMAT:
        raise ValueError(f"measurement record format = {record.get('format')!r}; this release "
                         f"writes format {FORMAT}")
    text = json.dumps(record, sort_keys=True)

    def write(conn: Connection) -> None:
        stmt = store._insert(measurements).values(cell_id=cell_id, seed=seed, machine=machine,
                                                  format=FORMAT, measured=db_now(), record=text)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["cell_id", "seed", "machine"],
            set_={"format": stmt.excluded.format, "measured": stmt.excluded.measured,
                  "record": stmt.excluded.record}))
    store._write(write)


def read(store: Store | None) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Every measurement record, keyed by (cell id, seed), oldest first, each with its
    ``machine_key`` and ``measured`` (epoch seconds). Records of an unknown format are left
    out: a newer release wrote them."""
    if not has_measurements(store):
        return {}
    cols = (measurements.c.cell_id, measurements.c.seed, measurements.c.machine,
            measurements.c.format, measurements.c.measured, measurements.c.record)
    rows = store._query(lambda c: c.execute(select(*cols).order_by(measurements.c.measured)).all())
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for cell_id, seed, machine, fmt, measured, text in rows:
        if fmt != FORMAT:
            continue
        record = {**json.loads(text), "machine_key": machine, "measured": measured}
        out.setdefault((cell_id, seed), []).append(record)
    return out


def latest(store: Store | None) -> dict[tuple[str, int], dict[str, Any]]:
    """The newest measurement record of each (cell id, seed), whatever the machine."""
    return {key: records[-1] for key, records in read(store).items()}
