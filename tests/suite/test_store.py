"""The SQLite store: round trip, claims, schema versions, unusable directories."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from suite.errors import StoreError
from suite.grid import expand
from suite.spec import parse_spec
from suite.store import SCHEMA_VERSION, Store, results_dir


def test_round_trip(tmp_path, tiny_spec_text):
    spec = parse_spec(tiny_spec_text, "tiny.toml")
    cells = expand(spec)
    store = Store(tmp_path)
    store.record_spec(spec, cells)
    cid = cells[0].id
    assert store.run(cid, 0).status == "pending"
    assert store.claim(cid, 0, "me")
    assert store.run(cid, 0).status == "running"
    store.finish(cid, 0, "me", "done", {"format": "x", "metrics": {"top1": 50.0}})
    store.close()

    again = Store(tmp_path, create=False)
    row = again.run(cid, 0)
    assert row.status == "done" and row.result["metrics"]["top1"] == 50.0 and row.attempts == 1
    assert [s["name"] for s in again.specs()] == ["tiny"]
    assert again.specs()[0]["text"] == tiny_spec_text
    assert [c for c, _ in again.cells_of(spec.digest)] == [c.id for c in cells]


def test_claims_are_exclusive_until_stale_or_failed(tmp_path):
    store = Store(tmp_path)
    assert store.claim("c", 0, "a")
    assert not store.claim("c", 0, "b")
    assert not store.claim("c", 0, "b", stale_after=3600)
    time.sleep(0.01)
    assert store.claim("c", 0, "b", stale_after=0.0)
    assert not store.heartbeat("c", 0, "a")  # the claim moved to b
    store.finish("c", 0, "b", "failed", None, "boom")
    assert not store.claim("c", 0, "a")
    assert store.claim("c", 0, "a", retry_failed=True)
    assert store.run("c", 0).attempts == 3


def test_active_owners_are_the_fresh_running_claims(tmp_path):
    store = Store(tmp_path)
    assert store.active_owners(300) == set()
    store.claim("c", 0, "a")
    store.claim("c", 1, "a")
    store.claim("d", 0, "b")
    store.claim("e", 0, "gone")
    store.claim("f", 0, "done")
    store.finish("f", 0, "done", "done", {"format": "x"})
    with store._write() as c:  # a heartbeat ten minutes old
        c.execute("UPDATE runs SET heartbeat=? WHERE owner='gone'", (time.time() - 600,))
    assert store.active_owners(300) == {"a", "b"}
    assert store.active_owners(3600) == {"a", "b", "gone"}


def test_release_makes_pending_again(tmp_path):
    store = Store(tmp_path)
    store.claim("c", 1, "a")
    store.release("c", 1, "a")
    assert store.run("c", 1).status == "pending"


def test_unknown_schema_version_is_refused(tmp_path):
    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "suite.db")
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 2.*reads version 1"):
        Store(tmp_path)


def test_missing_store_is_refused_when_not_creating(tmp_path):
    with pytest.raises(StoreError, match="no results store"):
        Store(tmp_path / "none", create=False)


def test_not_a_database(tmp_path):
    (tmp_path / "suite.db").write_text("hello, not sqlite " * 100)
    with pytest.raises(StoreError, match="cannot use the results store"):
        Store(tmp_path)


def test_results_path_that_is_a_file(tmp_path):
    (tmp_path / "taken").write_text("a file where the results directory should be")
    with pytest.raises(StoreError, match="cannot create the results directory"):
        Store(tmp_path / "taken")


def test_results_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("SUITE_RESULTS", raising=False)
    assert str(results_dir(None)) == "results"
    monkeypatch.setenv("SUITE_RESULTS", str(tmp_path))
    assert results_dir(None) == tmp_path
    assert str(results_dir("x")) == "x"


def test_claim_of_a_dead_local_process_is_taken_over_at_once(tmp_path):
    import socket
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = f"{socket.gethostname()}:{int(proc.stdout)}:abc"
    alive = f"{socket.gethostname()}:{os.getpid()}:abc"
    store = Store(tmp_path)
    assert store.claim("c", 0, alive)
    assert not store.claim("c", 0, "other")  # its process lives: not stale
    store.release("c", 0, alive)
    assert store.claim("c", 0, dead)
    assert store.claim("c", 0, "other")  # its process is gone: taken over without waiting
