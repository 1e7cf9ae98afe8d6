"""Exact values of the schedules (when and how much)."""

from __future__ import annotations

import math

import pytest

from methods.schedules import cosine_decay, cubic_sparsity, every, fraction_step, lr_drop_step, resolve_window
from suite.recipes import TrainRecipe


@pytest.mark.parametrize(("step", "expected"), [
    (0, 0.0),                      # t0: s_i
    (25, 0.9 - 0.9 * 0.75**3),     # 0.52031...
    (50, 0.9 - 0.9 * 0.125),       # 0.7875
    (75, 0.9 - 0.9 * 0.25**3),     # 0.8859...
    (100, 0.9),                    # t1: s_f
    (150, 0.9),                    # after t1: s_f
])
def test_cubic_sparsity_values(step, expected):
    assert cubic_sparsity(step, 0.9, begin=0, end=100) == pytest.approx(expected, abs=1e-12)


def test_cubic_sparsity_with_offset_and_initial():
    # s_t = s_f + (s_i - s_f)(1 - (t - t0)/(t1 - t0))^3 with s_i=0.2, s_f=0.8, t0=10, t1=30
    assert cubic_sparsity(5, 0.8, begin=10, end=30, initial=0.2) == 0.2
    assert cubic_sparsity(10, 0.8, begin=10, end=30, initial=0.2) == pytest.approx(0.2)
    assert cubic_sparsity(20, 0.8, begin=10, end=30, initial=0.2) == pytest.approx(0.8 - 0.6 / 8)
    assert cubic_sparsity(30, 0.8, begin=10, end=30, initial=0.2) == 0.8


def test_cubic_sparsity_is_monotone_and_degenerate_window_jumps():
    values = [cubic_sparsity(t, 0.95, begin=3, end=40) for t in range(50)]
    assert values == sorted(values)
    assert cubic_sparsity(4, 0.5, begin=4, end=4) == 0.5


def test_cosine_decay_values():
    assert cosine_decay(0, 100, 0.5) == pytest.approx(0.5)
    assert cosine_decay(50, 100, 0.5) == pytest.approx(0.25)
    assert cosine_decay(25, 100, 0.5) == pytest.approx(0.25 * (1 + math.cos(math.pi / 4)))
    assert cosine_decay(100, 100, 0.5) == 0.0
    assert cosine_decay(200, 100, 0.5, end=0.1) == 0.1


def test_fraction_and_lr_drop_steps():
    recipe = TrainRecipe(milestones=(0.5, 0.75))
    assert fraction_step(0.25, 390) == 98
    assert lr_drop_step(recipe, 1000) == 750
    assert lr_drop_step(recipe, 1000, index=0) == 500
    assert lr_drop_step(TrainRecipe(milestones=(0.3,)), 1000) == 300   # fewer drops: the last
    assert lr_drop_step(TrainRecipe(milestones=()), 1000) == 1000      # none: the end


def test_resolve_window():
    recipe = TrainRecipe(milestones=(0.3, 0.6, 0.8))
    assert resolve_window(0.0, None, recipe, 200) == (0, 120)
    assert resolve_window(0.1, 0.5, recipe, 200) == (20, 100)
    assert resolve_window(0.5, 0.2, recipe, 200) == (100, 100)       # never before t0


def test_every():
    assert [t for t in range(1, 60) if every(t, 16)] == [16, 32, 48]
    assert [t for t in range(1, 60) if every(t, 10, begin=5, end=35)] == [5, 15, 25, 35]
