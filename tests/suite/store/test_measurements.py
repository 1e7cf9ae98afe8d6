"""Measurement records: one per (cell, seed, machine), kept beside those of other
machines; stores older than version 3 read as having none, and are not changed."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from suite.store import Store
from suite.store import measurements as m

COMMITTED = Path(__file__).resolve().parent / "data" / "suite_v1.db"


def record(median: float) -> dict:
    return {"format": m.FORMAT, "timings": {"1": {"dense": {"median": median}}}}


def test_records_of_two_machines_are_kept_and_one_machine_replaces_its_own(store_url):
    store = Store.open(store_url)
    assert m.has_measurements(store) and m.read(store) == {}
    m.put(store, "c1", 0, "cpu-a", record(1.0))
    m.put(store, "c1", 0, "cpu-b", record(2.0))
    time.sleep(0.01)  # the SQLite clock counts milliseconds
    m.put(store, "c1", 0, "cpu-a", record(3.0))
    m.put(store, "c2", 1, "cpu-a", record(4.0))
    got = m.read(store)
    assert sorted(got) == [("c1", 0), ("c2", 1)]
    by_machine = {r["machine_key"]: r["timings"]["1"]["dense"]["median"] for r in got[("c1", 0)]}
    assert by_machine == {"cpu-a": 3.0, "cpu-b": 2.0}
    assert m.latest(store)[("c1", 0)]["machine_key"] == "cpu-a"
    store.close()


def test_an_unknown_record_format_is_not_written(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(ValueError, match="format"):
        m.put(store, "c1", 0, "cpu", {"format": 99})


def test_an_older_store_reads_as_without_measurements_and_stays_unchanged(tmp_path):
    shutil.copy(COMMITTED, tmp_path / "suite.db")
    before = hashlib.sha256((tmp_path / "suite.db").read_bytes()).hexdigest()
    store = Store(tmp_path, create=False)
    assert store.version == 1
    assert not m.has_measurements(store)
    assert m.read(store) == {} and m.latest(store) == {}
    store.close()
    assert hashlib.sha256((tmp_path / "suite.db").read_bytes()).hexdigest() == before


def test_store_copy_brings_measurements_beside_the_destinations(tmp_path):
    from suite.store.copy import copy_store

    src, dst = Store(tmp_path / "a"), Store(tmp_path / "b")
    m.put(src, "c1", 0, "cpu-a", record(1.0))
    m.put(src, "c1", 0, "cpu-b", record(2.0))
    m.put(dst, "c1", 0, "cpu-a", record(9.0))
    summary = copy_store(src, dst)
    assert summary.measurements == 2 and "2 measurement records" in summary.describe()
    got = {r["machine_key"]: r["timings"]["1"]["dense"]["median"] for r in m.read(dst)[("c1", 0)]}
    assert got == {"cpu-a": 9.0, "cpu-b": 2.0}


def test_a_version_2_store_is_read_without_measurements_and_not_migrated(tmp_path):
    import sqlite3

    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "suite.db")
    conn.execute("DROP TABLE measurements")  # what version 2 wrote
    conn.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    conn.execute("UPDATE alembic_version SET version_num='0002'")
    conn.commit()
    conn.close()
    before = hashlib.sha256((tmp_path / "suite.db").read_bytes()).hexdigest()
    store = Store(tmp_path, create=False)
    assert store.version == 2 and m.read(store) == {}
    store.close()
    assert hashlib.sha256((tmp_path / "suite.db").read_bytes()).hexdigest() == before
    assert Store(tmp_path).version == 3  # the first write migrates
