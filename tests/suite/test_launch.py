"""`suite launch`: workers on this machine and on the real single-node SLURM that
``.ci/services.sh`` starts; the launcher returns at once and every run of the grid is
executed exactly once; a job told to stop (SLURM's SIGUSR2) checkpoints, gives its claim
back, is requeued, and the run ends with the numbers of an uninterrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from services import fresh_database, require
from test_cluster_faults import GRID, LONG, starts, wait_for

from suite.launch import parse_time
from suite.store import Store

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[2]


def launch(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "suite.cli", "launch", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          cwd=ROOT)


def all_done(url: str, count: int) -> bool:
    store = Store.open(url, create=False)
    try:
        runs = store.runs()
        return len(runs) == count and all(r.status in ("done", "failed") for r in runs.values())
    finally:
        store.close()


def test_parse_time_reads_slurms_formats():
    assert parse_time("90") == 90
    assert parse_time("24:00:00") == 1440
    assert parse_time("1-02:30:00") == 1590
    assert parse_time("00:00:30") == 1
    with pytest.raises(Exception, match="not a SLURM time"):
        parse_time("tomorrow")


def test_local_launch_returns_at_once_and_its_workers_run_the_grid_once(tmp_path):
    spec = tmp_path / "grid.toml"
    spec.write_text(GRID)
    results = tmp_path / "results"
    proc = launch(spec, "--executor", "local", "--workers", "3", "--results", results)
    assert proc.returncode == 0, proc.stderr
    assert "runs queued" in proc.stdout and "3 local workers" in proc.stdout
    (folder,) = (results / "launch").iterdir()
    pids = [int(w.split()[1]) for w in json.loads((folder / "workers.json").read_text())["workers"]]
    url = f"sqlite:///{results / 'suite.db'}"
    store = Store.open(url, create=False)
    queued = len(store.runs())
    assert queued and all(r.status in ("pending", "running") for r in store.runs().values())
    store.close()

    wait_for(lambda: all_done(url, queued), 300, "the workers to finish the grid")
    for pid in pids:
        wait_for(lambda pid=pid: subprocess.run(["kill", "-0", str(pid)], capture_output=True)
                 .returncode != 0, 60, "the workers to exit")
    runs = Store.open(url, create=False).runs()
    assert {(r.status, r.attempts) for r in runs.values()} == {("done", 1)}
    assert set(starts(results).values()) == {1}


def test_a_bad_store_url_is_a_clear_error(tmp_path):
    proc = launch(ROOT / "specs/quickstart.toml", "--executor", "local", "--workers", "1",
                  "--results", tmp_path, "--store", "postgresql://suite:wrong@127.0.0.1:1/none")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot reach the store postgresql://suite:***@127.0.0.1:1/none" in proc.stderr
    assert not (tmp_path / "launch").exists()


def slurm_jobs_gone(results: Path) -> bool:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout
    return not out.strip()


@pytest.fixture
def slurm():
    require("SUITE_TEST_SLURM", "a SLURM cluster (slurmctld and slurmd)")
    yield
    subprocess.run(["scancel", "--user", "root"], capture_output=True)


def test_slurm_launch_runs_the_quickstart_exactly_once(slurm, tmp_path):
    with fresh_database() as url:
        results = tmp_path / "shared"
        proc = launch(ROOT / "specs/quickstart.toml", "--executor", "slurm", "--workers", "2",
                      "--time", "20", "--results", results, "--store", url)
        assert proc.returncode == 0, proc.stderr
        assert "2 slurm workers (job " in proc.stdout
        store = Store.open(url, create=False)
        queued = len(store.runs())
        store.close()
        assert queued == 26
        wait_for(lambda: all_done(url, queued), 600, "the SLURM workers to finish the quickstart")
        wait_for(lambda: slurm_jobs_gone(results), 120, "the job array to end")
        runs = Store.open(url, create=False).runs()
        assert {(r.status, r.attempts) for r in runs.values()} == {("done", 1)}
        counts = starts(results)
        assert len(counts) == 26 and set(counts.values()) == {1}
        hosts = {r.owner.split(":")[0] for r in runs.values()}
        assert len(hosts) == 1  # the one node


def test_a_slurm_job_told_to_stop_checkpoints_is_requeued_and_resumes_exactly(slurm, tmp_path):
    spec = tmp_path / "long.toml"
    spec.write_text(LONG)
    reference = tmp_path / "reference"
    subprocess.run([sys.executable, "-m", "suite.cli", "run", spec, "--results", reference],
                   check=True, capture_output=True)
    (ref,) = Store(reference, create=False).runs().values()
    with fresh_database() as url:
        results = tmp_path / "shared"
        proc = launch(spec, "--executor", "slurm", "--workers", "1", "--time", "20",
                      "--results", results, "--store", url)
        assert proc.returncode == 0, proc.stderr
        job = proc.stdout.split("(job ")[1].split(")")[0].split(",")[0]
        wait_for(lambda: list(results.glob("runs/*/seed-0/checkpoint.pt")), 180, "a checkpoint")
        time.sleep(0.5)
        subprocess.run(["scancel", "--signal=USR2", job], check=True)
        wait_for(lambda: all_done(url, 1), 600, "the requeued job to finish the run")
        (row,) = Store.open(url, create=False).runs().values()
        assert row.status == "done" and row.attempts == 2
        assert row.result["metrics"] == ref.result["metrics"]
        ((run_dir, count),) = starts(results).items()
        assert count == 2 and "resume at epoch" in (run_dir / "log.txt").read_text()
