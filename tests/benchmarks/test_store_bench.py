"""Claims per second and claim latency with 1, 4 and 16 processes claiming from one
store, on PostgreSQL and SQLite. Each process claims a run and stores a result until the
queue is empty (what a worker does between runs); throughput counts claims in all
processes from the first claim to the last (process start-up left out), latency is
each claim statement's round trip.

    tox -e bench -- tests/benchmarks/test_store_bench.py   (PostgreSQL: .ci/services.sh start)
"""

from __future__ import annotations

import contextlib
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "suite" / "store"))
from services import fresh_database  # noqa: E402
from test_many_writers import claim_concurrently  # noqa: E402

pytestmark = pytest.mark.benchmark
RUNS = 480


@contextlib.contextmanager
def store_at(engine: str, tmp_path: Path):
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'suite.db'}"
    else:
        with fresh_database() as url:
            yield url


@pytest.mark.parametrize("workers", [1, 4, 16])
@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_claims_per_second(benchmark, engine, workers, tmp_path):
    pairs = [(f"cell{i:04d}", 0) for i in range(RUNS)]
    figures = {}

    def claim_all() -> None:
        with store_at(engine, tmp_path / f"r{len(figures)}") as url:
            (tmp_path / f"r{len(figures)}").mkdir(exist_ok=True)
            reports = claim_concurrently(url, workers, pairs, tmp_path)
        # from the first claim of any process to the last of any: process start-up excluded
        wall = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
        latencies = sorted(x for r in reports for x in r["latencies"])
        assert len(latencies) == RUNS
        q = statistics.quantiles(latencies, n=10)
        figures.update(claims_per_second=RUNS / wall, latency_p50_ms=1e3 * statistics.median(latencies),
                       latency_p10_ms=1e3 * q[0], latency_p90_ms=1e3 * q[-1])

    benchmark.pedantic(claim_all, rounds=1, iterations=1)
    benchmark.extra_info.update(engine=engine, workers=workers, runs=RUNS, **figures)
    print(f"\n{engine} x{workers}: {figures['claims_per_second']:.0f} claims/s "
          f"latency p10/p50/p90 {figures['latency_p10_ms']:.2f}/{figures['latency_p50_ms']:.2f}/"
          f"{figures['latency_p90_ms']:.2f} ms")
