"""`suite store copy`: SQLite to PostgreSQL and back loses nothing, and never replaces a
result the destination has."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from services import fresh_database

from suite.store import Store

V1 = Path(__file__).with_name("data") / "suite_v1.db"


def copy(src: str, dst: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "suite.cli", "store", "copy", src, dst],
                          capture_output=True, text=True)


def cells_by_spec(path: Path) -> dict[str, list[tuple[str, str]]]:
    """(cell id, canonical cell) of each cell each spec of the SQLite store declares, in order."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = conn.execute("SELECT s.digest, c.id, c.canonical FROM spec_cells s JOIN cells c "
                        "ON c.id = s.cell_id ORDER BY s.digest, s.position").fetchall()
    conn.close()
    placed: dict[str, list[tuple[str, str]]] = {}
    for digest, cell_id, canonical in rows:
        placed.setdefault(digest, []).append((cell_id, canonical))
    return placed


def test_sqlite_to_postgresql_and_back_keeps_every_spec_cell_and_run(tmp_path):
    shutil.copy(V1, tmp_path / "suite.db")
    src = f"sqlite:///{tmp_path / 'suite.db'}"
    original = Store.open(src, create=False)
    runs, specs = original.runs(), original.specs()
    cells = cells_by_spec(tmp_path / "suite.db")
    assert set(cells) == {s["digest"] for s in specs}
    original.close()
    back = f"sqlite:///{tmp_path / 'back' / 'suite.db'}"
    with fresh_database() as pg:
        there = copy(src, pg)
        assert there.returncode == 0, there.stderr
        assert f"{len(specs)} specs" in there.stdout and f"{len(runs)} runs copied" in there.stdout
        again = copy(f"sqlite:///{tmp_path / 'none' / 'suite.db'}", pg)  # no such store
        assert again.returncode == 2 and "no results store" in again.stderr
        home = copy(pg, back)
        assert home.returncode == 0, home.stderr
    result = Store.open(back, create=False)
    assert result.runs() == runs
    assert result.specs() == specs
    assert cells_by_spec(tmp_path / "back" / "suite.db") == cells


def test_copy_keeps_what_the_destination_has_done(tmp_path):
    src, dst = Store(tmp_path / "a"), Store(tmp_path / "b")
    for store, status, value in ((src, "done", 1), (dst, "done", 2)):
        store.finish(store.claim("c", 0, "w"), status, {"v": value})
    src.finish(src.claim("c", 1, "w"), "done", {"v": 3})
    dst.finish(dst.claim("c", 1, "w"), "failed", None, "boom")  # a failure: replaced
    src.claim("c", 2, "w")  # running in the source: arrives pending
    proc = copy(f"sqlite:///{tmp_path / 'a' / 'suite.db'}", f"sqlite:///{tmp_path / 'b' / 'suite.db'}")
    assert proc.returncode == 0, proc.stderr
    assert "2 runs copied; 1 runs kept" in proc.stdout
    rows = Store(tmp_path / "b", create=False).runs()
    assert rows["c", 0].result == {"v": 2}
    assert rows["c", 1].status == "done" and rows["c", 1].result == {"v": 3}
    assert (rows["c", 2].status, rows["c", 2].owner) == ("pending", None)
