"""The plain-text progress of `suite run`: its lines and its ETA, with a fake clock."""

from __future__ import annotations

import io

import pytest

from suite import progress as progress_mod
from suite.progress import GridProgress


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: now[0])
    return now


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def train(grid: GridProgress, clock: list[float], label: str, seconds: float, runners: int = 1) -> None:
    grid.begin(label)
    clock[0] += seconds
    grid.end(label, "done", runners)


def test_eta_is_mean_run_time_times_runs_left(clock):
    out = io.StringIO()
    grid = GridProgress(4, out)
    assert grid.eta() == "unknown"
    train(grid, clock, "a", 10)
    train(grid, clock, "b", 30)
    assert lines(out) == ["[1/4] a ...", "[1/4] a: done (ETA 00:30)",
                          "[2/4] b ...", "[2/4] b: done (ETA 00:40)"]


def test_eta_weighs_runs_by_their_work(clock):
    out = io.StringIO()
    grid = GridProgress(3, out, {"a": 2, "b": 24})  # "b": 12 rounds of 2 epochs; "c" counts 1
    train(grid, clock, "a", 10)  # 5 s per unit: 25 units left
    assert lines(out)[-1] == "[1/3] a: done (ETA 02:05)"
    train(grid, clock, "b", 110)  # 120 s for 26 units; 1 left
    assert lines(out)[-1] == "[2/3] b: done (ETA 00:05)"


def test_runs_taken_elsewhere_add_no_time_and_the_rest_is_shared(clock):
    out = io.StringIO()
    grid = GridProgress(5, out)
    clock[0] += 50  # waiting before the first claim is not run time
    grid.end("a", "taken by another runner", 2)
    assert lines(out)[-1] == "[1/5] a: taken by another runner (ETA unknown)"
    train(grid, clock, "b", 20, runners=2)  # 3 runs left, two runners: 3 x 20 / 2
    assert lines(out)[-1] == "[2/5] b: done (ETA 00:30)"
    grid.end("c", "taken by another runner", 1)  # the other runner is gone: 2 x 20
    assert lines(out)[-1] == "[3/5] c: taken by another runner (ETA 00:40)"
