"""Failure modes of a grid shared by many workers, against the real servers that
``.ci/services.sh`` starts: PostgreSQL reached over the links of test hosts in network
namespaces. Each test counts the runs executed twice or lost (the goal: none).

- a worker killed with -9 on one host: another host takes the run over after the
  lease, resumes it from the checkpoint, and ends with an uninterrupted run's numbers;
- a host whose link is cut: its worker loses the lease and stores nothing; the run is
  finished once, by the other host;
- PostgreSQL restarted during a grid: workers reconnect; no run is lost or doubled;
- many workers on one grid (the runs W&B sweeps and Optuna ran twice), on PostgreSQL
  and on SQLite (where many writers used to meet "database is locked").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from services import fresh_database, host_address, hosts, on_host, require, services
from test_reliability import LONG_SPEC

from suite.grid import expand
from suite.spec import parse_spec
from suite.store import Store

pytestmark = pytest.mark.processes

LEASE = 6  # seconds: takeovers happen within a test's patience

GRID = textwrap.dedent("""
    [suite]
    name = "grid"
    seeds = [0, 1, 2]
    [grid]
    method = ["dense", "incremental"]
    model = ["mlp"]
    dataset = ["synthetic"]
    sparsity = [0.5, 0.8]
    [train]
    epochs = 3
    batch_size = 64
    lr = 0.05
    [model.mlp]
    hidden = [32]
    [dataset.synthetic]
    train_size = 512
    test_size = 128
    [backend.torch]
    threads = 1
""")
GRID_RUNS = len(expand(parse_spec(GRID))) * 3

LONG = LONG_SPEC.replace("epochs = 12", "epochs = 16")  # a run of several seconds
#: A run that outlasts a second worker's start on a busy machine (tens of seconds).
LONGER = LONG.replace("epochs = 16", "epochs = 48")



def suite_argv(*args: object) -> list[str]:
    return [sys.executable, "-m", "suite.cli", *map(str, args)]


def worker(spec: Path, results: Path, url: str, *, host: str | None = None, wait: bool = True,
           log: Path, env: dict | None = None) -> subprocess.Popen:
    """A `suite run` worker, on a test host when ``host`` is given."""
    argv = suite_argv("run", spec, "--results", results, "--lease", LEASE, *(["--wait"] if wait else []))
    if host:
        argv = on_host(host, argv)
    env = {**os.environ, "SUITE_STORE": url, **(env or {})}
    return subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)


def url_for(url: str, host: str) -> str:
    """``url`` as a worker on test host ``host`` reaches the server: over its link."""
    return url.replace("@127.0.0.1:", f"@{host_address(host)}:")


def starts(results: Path) -> dict[Path, int]:
    """How many times each run's training started or resumed (its log's first words)."""
    return {log.parent: sum(1 for line in log.read_text().splitlines()
                            if line.split(" ", 2)[2].startswith(("start ", "resume at epoch")))
            for log in results.glob("runs/*/seed-*/log.txt")}


def wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def rows(url: str) -> dict:
    store = Store.open(url, create=False)
    try:
        return store.runs()
    finally:
        store.close()


def finish(procs: list[subprocess.Popen], timeout: float = 300) -> list[int]:
    return [p.wait(timeout=timeout) for p in procs]


@pytest.fixture
def long_spec(tmp_path) -> Path:
    path = tmp_path / "long.toml"
    path.write_text(LONG)
    return path


@pytest.fixture
def longer_spec(tmp_path) -> Path:
    path = tmp_path / "longer.toml"
    path.write_text(LONGER)
    return path


@pytest.fixture
def grid_spec(tmp_path) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    return path


def uninterrupted(spec: Path, results: Path) -> dict:
    """The metrics of ``spec``'s one run, trained without interruption (SQLite, this host)."""
    subprocess.run(suite_argv("run", spec, "--results", results), check=True, capture_output=True)
    (row,) = Store(results, create=False).runs().values()
    return row.result["metrics"]


@pytest.fixture
def reference(long_spec, tmp_path) -> dict:
    """The metrics of the long run, uninterrupted."""
    return uninterrupted(long_spec, tmp_path / "reference")


@pytest.fixture
def longer_reference(longer_spec, tmp_path) -> dict:
    """The metrics of the longer run, uninterrupted."""
    return uninterrupted(longer_spec, tmp_path / "reference")


def two_hosts(spec: Path, results: Path, url: str, tmp_path: Path) -> tuple:
    """Worker a on host 1, past its first checkpoint, and worker b on host 2 (waiting)."""
    h1, h2 = hosts()[:2]
    a = worker(spec, results, url_for(url, h1), host=h1, log=tmp_path / "a.log")
    wait_for(lambda: list(results.glob("runs/*/seed-0/checkpoint.pt")), 120, "a checkpoint")
    b = worker(spec, results, url_for(url, h2), host=h2, log=tmp_path / "b.log")
    return h1, h2, a, b


def test_kill_9_on_one_host_is_taken_over_by_another_and_resumes_exactly(
        longer_spec, tmp_path, longer_reference):
    with fresh_database() as url:
        results = tmp_path / "shared"
        h1, h2, a, b = two_hosts(longer_spec, results, url, tmp_path)
        # kill a only once b has found the run held: on a busy machine b may take longer
        # to start than a's lease lasts after a kill, and would then find nothing held
        wait_for(lambda: "waiting: 1 runs held" in (tmp_path / "b.log").read_text(), 120,
                 "b to find the run held")
        assert a.poll() is None, "the run ended before b could look at it"
        a.send_signal(signal.SIGKILL)
        a.wait()
        assert finish([b]) == [0], (tmp_path / "b.log").read_text()
        (row,) = rows(url).values()
        assert row.status == "done" and row.attempts == 2
        assert row.owner.startswith(f"test-{h2}:")
        assert row.result["metrics"] == longer_reference  # resumed to the last digit
        (run_dir, count), = starts(results).items()
        assert count == 2 and "resume at epoch" in (run_dir / "log.txt").read_text()
        assert "waiting: 1 runs held by other runners" in (tmp_path / "b.log").read_text()


def test_a_cut_off_host_loses_its_lease_and_stores_nothing(long_spec, tmp_path, reference):
    with fresh_database() as url:
        results = tmp_path / "shared"
        h1, h2, a, b = two_hosts(long_spec, results, url, tmp_path)
        services("cut-link", h1)
        try:
            assert finish([b]) == [0], (tmp_path / "b.log").read_text()
            (row,) = rows(url).values()
            assert row.status == "done" and row.owner.startswith(f"test-{h2}:")
            assert row.result["metrics"] == reference
            assert a.poll() is None  # a is still trying to reach the store
        finally:
            services("heal-link", h1)
        assert finish([a]) == [0]
        a_log = (tmp_path / "a.log").read_text()
        assert "lease lost" in a_log and "runs done" in a_log
        (row2,) = rows(url).values()
        assert row2 == row  # a stored nothing over b's result
        assert "0 runs done" in a_log.splitlines()[-1]


FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")


def test_a_worker_whose_clock_is_hours_ahead_takes_nothing_that_is_held(longer_spec, tmp_path):
    """Leases end on the database's clock: a host whose clock runs two hours ahead
    (libfaketime) must not judge a live holder's lease as long expired."""
    if not FAKETIME.exists():
        require("SUITE_TEST_FAKETIME", "libfaketime (Debian: faketime)")
    with fresh_database() as url:
        results = tmp_path / "shared"
        skewed = {"LD_PRELOAD": str(FAKETIME), "FAKETIME": "+2h", "SUITE_HOST": "skewed"}
        a = worker(longer_spec, results, url, log=tmp_path / "a.log")
        wait_for(lambda: any(r.status == "running" for r in rows(url).values()), 120, "a's claim")
        b = worker(longer_spec, results, url, log=tmp_path / "b.log", env=skewed)
        wait_for(lambda: "waiting: 1 runs held" in (tmp_path / "b.log").read_text(), 120,
                 "the skewed worker to find the run held")
        assert a.poll() is None, "the run ended before the skewed worker could look at it"
        assert finish([a, b]) == [0, 0], (tmp_path / "b.log").read_text()
        (row,) = rows(url).values()
        assert row.status == "done" and row.attempts == 1  # nobody stole the live claim
        assert not row.owner.startswith("skewed:")
        assert set(starts(results).values()) == {1}


def test_postgresql_restarted_during_a_grid_loses_and_doubles_nothing(grid_spec, tmp_path):
    hosts()  # needs the services script
    with fresh_database() as url:
        results = tmp_path / "shared"
        procs = [worker(grid_spec, results, url, log=tmp_path / f"w{i}.log") for i in range(2)]
        wait_for(lambda: sum(r.status == "done" for r in rows(url).values()) >= 2, 120,
                 "two finished runs")
        services("restart-postgres")
        assert finish(procs) == [0, 0], [(tmp_path / f"w{i}.log").read_text() for i in range(2)]
        stored = rows(url)
        assert len(stored) == GRID_RUNS
        assert {(r.status, r.attempts) for r in stored.values()} == {("done", 1)}
        assert set(starts(results).values()) == {1}


class ConnectionCounter:
    """Samples how many server connections a PostgreSQL database has, from a thread."""

    def __init__(self, url: str) -> None:
        import threading

        from sqlalchemy import make_url

        self.database = make_url(url).database
        self.admin = make_url(url).set(database="postgres").render_as_string(hide_password=False)
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            while not self._stop.wait(0.1):
                (n,), = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                     (self.database,)).fetchall()
                self.most = max(self.most, n)

    def __enter__(self) -> ConnectionCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_many_workers_run_each_run_exactly_once(engine, grid_spec, tmp_path):
    """Four workers on one grid: each run executed once, no "database is locked", and on
    PostgreSQL one connection per worker (no pool of five per process)."""
    results = tmp_path / "shared"

    def run_with(url: str) -> None:
        procs = [worker(grid_spec, results, url, log=tmp_path / f"w{i}.log") for i in range(4)]
        assert finish(procs) == [0, 0, 0, 0]
        stored = rows(url)
        assert len(stored) == GRID_RUNS
        assert {(r.status, r.attempts) for r in stored.values()} == {("done", 1)}
        counts = starts(results)
        assert len(counts) == GRID_RUNS and set(counts.values()) == {1}  # executed once each
        logs = "".join((tmp_path / f"w{i}.log").read_text() for i in range(4))
        assert "locked" not in logs and "Traceback" not in logs

    if engine == "sqlite":
        run_with(f"sqlite:///{results / 'suite.db'}")
    else:
        with fresh_database() as url, ConnectionCounter(url) as connections:
            run_with(url)
        assert 1 <= connections.most <= 4
