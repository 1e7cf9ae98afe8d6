"""Many processes claiming from one store at once: every run is taken exactly once and
no writer fails, on PostgreSQL and on SQLite (where "database is locked" was the
failure of comparable tools under many writers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from suite.store import Store

pytestmark = pytest.mark.processes

WORKER = Path(__file__).with_name("claim_worker.py")


def claim_concurrently(url: str, workers: int, pairs: list[tuple[str, int]], tmp_path: Path) -> list[dict]:
    """Start ``workers`` claiming processes on one queue; their reports."""
    queue = tmp_path / "pairs.json"
    queue.write_text(json.dumps(pairs))
    setup = Store.open(url)
    setup.enqueue(pairs)
    setup.close()
    procs = [subprocess.Popen([sys.executable, str(WORKER), url, f"w{i}", str(queue)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(workers)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, [err for _, err in outs]
    return [json.loads(out) for out, _ in outs]


def test_sixteen_writers_take_each_run_exactly_once(store_url, tmp_path):
    pairs = [(f"cell{i:03d}", s) for i in range(80) for s in range(3)]
    reports = claim_concurrently(store_url, 16, pairs, tmp_path)
    won = [tuple(p) for r in reports for p in r["won"]]
    assert sorted(won) == sorted(pairs)  # none lost, none twice
    rows = Store.open(store_url, create=False).runs()
    assert {(r.status, r.attempts) for r in rows.values()} == {("done", 1)}
