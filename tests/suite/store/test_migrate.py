"""Schema versions: version 1 stores are read as they are and upgraded on the first
write; a store of a newer version is refused; readers never change the file."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from suite.errors import StoreError
from suite.store import SCHEMA_VERSION, Store

#: a store written by schema version 1 (the CIFAR-10 CPU grid as first published)
COMMITTED = Path(__file__).resolve().parent / "data" / "suite_v1.db"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def v1_store(tmp_path) -> Path:
    """A copy of the committed store, written by schema version 1."""
    shutil.copy(COMMITTED, tmp_path / "suite.db")
    return tmp_path


def test_a_version_1_store_is_read_unchanged(v1_store):
    before = digest(v1_store / "suite.db")
    store = Store(v1_store, create=False)
    assert store.version == 1
    runs = store.runs()
    assert len(runs) >= 14 and {r.status for r in runs.values()} == {"done"}
    assert store.specs()
    store.close()
    assert digest(v1_store / "suite.db") == before


def test_version_1_is_upgraded_on_the_first_write_and_keeps_every_run(v1_store):
    old = Store(v1_store, create=False).runs()
    store = Store(v1_store)
    assert store.version == SCHEMA_VERSION
    assert store.runs() == old
    conn = sqlite3.connect(v1_store / "suite.db")
    assert conn.execute("SELECT value FROM meta").fetchall() == [(str(SCHEMA_VERSION),)]
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]
    columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    assert {"lease_until", "takeovers"} <= columns
    claim = store.claim("new-cell", 0, "me")
    assert claim and store.finish(claim, "done", {"x": 1})


def test_newer_schema_is_refused(tmp_path):
    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "suite.db")
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    pattern = f"schema version {SCHEMA_VERSION + 1}.*reads version {SCHEMA_VERSION}"
    with pytest.raises(StoreError, match=pattern):
        Store(tmp_path)
    with pytest.raises(StoreError, match=pattern):
        Store(tmp_path, create=False)


def test_newer_schema_is_refused_on_postgresql():
    from services import fresh_database

    with fresh_database() as url:
        Store.open(url).close()
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        with pytest.raises(StoreError, match="schema version 99"):
            Store.open(url)


def test_many_first_opens_at_once_create_one_schema(store_url):
    import threading

    errors = []

    def open_it() -> None:
        try:
            Store.open(store_url).close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Store.open(store_url, create=False).version == SCHEMA_VERSION


def test_missing_store_is_refused_when_not_creating(tmp_path):
    with pytest.raises(StoreError, match="no results store"):
        Store(tmp_path / "none", create=False)


def test_not_a_database_says_how_to_get_out(tmp_path):
    (tmp_path / "suite.db").write_text("hello, not sqlite " * 100)
    with pytest.raises(StoreError, match=r"cannot use the results store.*move it aside"):
        Store(tmp_path)


def test_an_empty_file_is_not_taken_for_a_new_store(tmp_path):
    (tmp_path / "suite.db").write_bytes(b"")
    for create in (True, False):
        with pytest.raises(StoreError, match="empty file.*Restore it from a backup, or move it aside"):
            Store(tmp_path, create=create)
    assert (tmp_path / "suite.db").stat().st_size == 0


def test_results_path_that_is_a_file(tmp_path):
    (tmp_path / "taken").write_text("a file where the results directory should be")
    with pytest.raises(StoreError, match="cannot create the results directory"):
        Store(tmp_path / "taken")


@pytest.fixture
def read_only_store(v1_store, tmp_path_factory):
    """The version-1 store on a read-only mount (root), or in a read-only directory."""
    import os
    import subprocess

    if os.geteuid() != 0:
        (v1_store / "suite.db").chmod(0o444)
        v1_store.chmod(0o555)
        yield v1_store
        v1_store.chmod(0o755)
        return
    ro = tmp_path_factory.mktemp("read-only-mount")
    subprocess.run(["mount", "--bind", str(v1_store), str(ro)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_a_store_on_a_read_only_mount_can_be_reported_planned_and_exported(read_only_store,
                                                                          tmp_path_factory):
    import subprocess
    import sys

    before = digest(read_only_store / "suite.db")
    spec = tmp_path_factory.mktemp("spec") / "stored.toml"
    spec.write_text(Store(read_only_store, create=False).specs()[0]["text"])
    for args in (["report", "--format", "markdown"], ["export"], ["plan", str(spec)],
                 ["report", str(spec), "--format", "csv"]):
        proc = subprocess.run([sys.executable, "-m", "suite.cli", *args, "--results",
                               str(read_only_store)], capture_output=True, text=True)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "unable to open" not in proc.stderr
    assert digest(read_only_store / "suite.db") == before
    assert sorted(p.name for p in read_only_store.iterdir()) == ["suite.db"]
