"""Real processes: killed runners resume exactly, concurrent runners split the work,
a full disk stops the run with a clear message and loses nothing."""

from __future__ import annotations

import random
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from suite.store import Store

pytestmark = pytest.mark.processes

LONG_SPEC = textwrap.dedent("""
    [suite]
    name = "long"
    seeds = [0]
    [grid]
    method = ["dense"]
    model = ["mlp"]
    dataset = ["synthetic"]
    sparsity = [0.5]
    [train]
    epochs = 12
    batch_size = 32
    lr = 0.05
    [model.mlp]
    hidden = [256, 256]
    [dataset.synthetic]
    train_size = 2048
    test_size = 256
    [backend.torch]
    threads = 1
""")


def suite_cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "suite.cli", *map(str, args)]


def stored(results: Path) -> dict:
    return {key: (row.status, row.attempts, row.result["metrics"] if row.result else None)
            for key, row in Store(results, create=False).runs().items()}


def wait_for_checkpoint(results: Path, timeout: float = 120) -> None:
    """Wait (a bounded time) until the run under ``results`` wrote its first checkpoint."""
    end = time.monotonic() + timeout
    while not list((results / "runs").glob("*/seed-0/checkpoint.pt")):
        assert time.monotonic() < end, "the run never wrote a checkpoint"
        time.sleep(0.02)


@pytest.fixture
def long_spec(tmp_path: Path) -> Path:
    path = tmp_path / "long.toml"
    path.write_text(LONG_SPEC)
    return path


@pytest.fixture
def reference(long_spec: Path, tmp_path: Path) -> dict:
    results = tmp_path / "reference"
    subprocess.run(suite_cmd("run", long_spec, "--results", results), check=True,
                   capture_output=True)
    return stored(results)


def test_kill_9_then_resume_equals_uninterrupted(long_spec, tmp_path, reference):
    results = tmp_path / "killed"
    proc = subprocess.Popen(suite_cmd("run", long_spec, "--results", results),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_checkpoint(results)
    time.sleep(random.uniform(0.0, 0.4))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (status, attempts, _), = stored(results).values()
    assert status == "running", "the run finished before it could be killed; lengthen LONG_SPEC"

    resumed = subprocess.run(suite_cmd("run", long_spec, "--results", results),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 runs done" in resumed.stdout
    after = stored(results)
    ((status, attempts, metrics),) = after.values()
    assert status == "done" and attempts == 2
    assert metrics == next(iter(reference.values()))[2]  # to the last digit
    log = next((results / "runs").glob("*/seed-0/log.txt")).read_text()
    assert "resume at epoch" in log


def test_sigterm_checkpoints_releases_and_resumes(long_spec, tmp_path, reference):
    results = tmp_path / "termed"
    proc = subprocess.Popen(suite_cmd("run", long_spec, "--results", results),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_checkpoint(results)
    time.sleep(random.uniform(0.0, 0.3))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "resumes" in err
    # the claim was given back: pending again, with nobody holding it
    assert [(r.status, r.owner) for r in Store(results).runs().values()] == [("pending", None)]
    resumed = subprocess.run(suite_cmd("run", long_spec, "--results", results),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    ((status, _, metrics),) = stored(results).values()
    assert status == "done" and metrics == next(iter(reference.values()))[2]


def test_two_runners_split_the_work(tmp_path, tiny_spec_text):
    spec = tmp_path / "pair.toml"
    spec.write_text(tiny_spec_text.replace('model = ["mlp"]', 'model = ["mlp", "small_cnn"]')
                    .replace("seeds = [0, 1]", "seeds = [0, 1, 2]"))
    results = tmp_path / "shared"
    procs = [subprocess.Popen(suite_cmd("run", spec, "--results", results), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = stored(results)
    assert len(runs) == 6
    assert {(status, attempts) for status, attempts, _ in runs.values()} == {("done", 1)}
    plan = subprocess.run(suite_cmd("plan", spec, "--results", results), capture_output=True,
                          text=True, check=True)
    assert "6 done, 0 failed, 0 running, 0 pending" in plan.stdout


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_full_disk_is_a_clear_error_and_loses_nothing(tmp_path, tiny_spec_text):
    spec = tmp_path / "tiny.toml"
    spec.write_text(tiny_spec_text)
    results = tmp_path / "full"
    first = subprocess.run(suite_cmd("run", spec, "--results", results, "--only", "seed=0"),
                           capture_output=True, text=True)
    assert first.returncode == 0
    before = stored(results)
    # the next checkpoint (tens of kB) no longer fits
    proc = subprocess.run(suite_cmd("run", spec, "--results", results), capture_output=True,
                          text=True, preexec_fn=_limit_file_size(8_000))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Free disk space" in proc.stderr or "disk" in proc.stderr
    after = stored(results)
    assert {k: v for k, v in after.items() if k in before} == before
    assert all(status != "failed" for status, _, _ in after.values())
    again = subprocess.run(suite_cmd("run", spec, "--results", results), capture_output=True,
                           text=True)
    assert again.returncode == 0 and "1 runs done" in again.stdout


def test_disk_full_while_writing_artifacts_stops_the_grid_and_keeps_the_claim_free(
        tmp_path, tiny_spec_text):
    import errno

    from backends.base import Backend
    from suite.errors import StoreError
    from suite.runner import execute
    from suite.spec import parse_spec

    class FullDisk(Backend):
        name = "fulldisk"
        calls = 0

        def fit(self, cell, seed, run_dir, progress):
            FullDisk.calls += 1
            raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "checkpoint.pt"))

    store = Store(tmp_path / "r")
    with pytest.raises(StoreError, match="No space left on device.*Free disk space"):
        execute(parse_spec(tiny_spec_text), store, FullDisk(None))
    assert FullDisk.calls == 1  # the grid stopped instead of failing run after run
    # nothing marked failed; the run is pending again
    assert {r.status for r in store.runs().values()} == {"pending"}
