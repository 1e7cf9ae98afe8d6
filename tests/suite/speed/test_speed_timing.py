"""Interleaved timing: every form runs in every round, stats are order statistics."""

from __future__ import annotations

import pytest

from suite.speed import timing


def test_percentiles_interpolate():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert timing.percentile(values, 0.5) == 3.0
    assert timing.percentile(values, 0.1) == pytest.approx(1.4)
    assert timing.percentile(values, 0.9) == pytest.approx(4.6)


def test_forms_are_interleaved_and_rotated():
    order = []
    fake_clock = iter(range(10_000))
    fns = {name: (lambda name=name: order.append(name)) for name in ("a", "b", "c")}
    got = timing.interleaved(fns, repeats=3, warmup=1, timer=lambda fn, calls: (fn(), next(fake_clock))[1])
    assert set(got) == {"a", "b", "c"} and all(s.rounds == 3 for s in got.values())
    rounds = order[3:]  # after calibration
    assert rounds[:3] == ["a", "b", "c"] and rounds[3:6] == ["b", "c", "a"]


def test_threads_are_restored_and_bad_values_named():
    import torch

    before = torch.get_num_threads()
    with timing.threads(1) as flushing:
        assert torch.get_num_threads() == 1
        assert isinstance(flushing, bool)
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads = 0"):
        with timing.threads(0):
            pass


def test_machine_is_recorded_with_capability():
    import torch

    info = timing.machine(torch.device("cpu"))
    assert info["cpu_capability"] and info["threads"] >= 1 and info["cpu_name"]
    assert str(info["threads"]) in timing.machine_key(info)
