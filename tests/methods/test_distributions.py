"""How much per layer: apportionment with caps, uniform and Erdős–Rényi counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from methods.distributions import apportion, apportion_spill_equally, erdos_renyi_counts, uniform_counts


def test_apportion_proportional_with_largest_remainder():
    # 10 * (1, 2, 3) / 6 = 1.67, 3.33, 5 -> 1, 3, 5 and the leftover to the largest remainder
    assert apportion(10, [1, 2, 3]) == [2, 3, 5]
    assert apportion(3, [1, 1, 1, 1]) == [1, 1, 1, 0]  # equal remainders: lower index first


def test_apportion_caps_spill_over_to_the_others():
    # 100 * (8, 1, 1) / 10 = 80, 10, 10, but layer 0 holds only 20: 80 more for the rest
    assert apportion(100, [8, 1, 1], caps=[20, 100, 100]) == [20, 40, 40]
    # cascading caps: after layer 0 fills, layer 1 fills too
    assert apportion(30, [10, 5, 1], caps=[5, 6, 100]) == [5, 6, 19]


def test_apportion_zero_weights_share_equally_and_impossible_totals_fail():
    assert apportion(4, [0, 0], caps=[3, 3]) == [2, 2]
    assert apportion(0, [1, 2]) == [0, 0]
    with pytest.raises(ValueError, match="hold only"):
        apportion(7, [1, 1], caps=[3, 3])


def test_spill_equally_shares_a_capped_surplus_equally():
    # 100 * (8, 1, 1) / 10 = 80, 10, 10; layer 0 holds 20: its 60 go 30 and 30 to the others
    assert apportion_spill_equally(100, [8, 1, 1], caps=[20, 100, 100]) == [20, 40, 40]
    # 12 * (6, 3, 1) / 10 = 7.2, 3.6, 1.2 -> 7, 4, 1; layer 0 holds 3: 4 over, 2 and 2
    # (apportion would give 4 : 2 by weight); a part that fills up passes its surplus on
    assert apportion_spill_equally(12, [6, 3, 1], caps=[3, 20, 20]) == [3, 6, 3]
    assert apportion(12, [6, 3, 1], caps=[3, 20, 20]) == [3, 7, 2]
    assert apportion_spill_equally(12, [6, 3, 1], caps=[3, 5, 20]) == [3, 5, 4]
    with pytest.raises(ValueError, match="hold only"):
        apportion_spill_equally(7, [1, 1], caps=[3, 3])


@given(total=st.integers(0, 500), weights=st.lists(st.floats(0, 10), min_size=1, max_size=8),
       caps=st.lists(st.integers(0, 200), min_size=8, max_size=8))
def test_apportion_sums_exactly_within_caps(total, weights, caps):
    caps = caps[:len(weights)]
    if total > sum(caps):
        total = sum(caps)
    for split in (apportion, apportion_spill_equally):
        parts = split(total, weights, caps)
        assert sum(parts) == total
        assert all(0 <= p <= c for p, c in zip(parts, caps, strict=True))


def test_uniform_counts_same_density_and_exact_total():
    counts = uniform_counts([1000, 300, 10], 0.9)
    assert counts == [100, 30, 1]
    assert sum(uniform_counts([7, 7, 7], 0.5)) == 11  # round(10.5) halves up


def test_erdos_renyi_counts_denser_small_layers():
    shapes = [(16, 3, 3, 3), (64, 16, 3, 3), (10, 64)]
    counts = erdos_renyi_counts(shapes, 0.9)
    sizes = [432, 9216, 640]
    assert sum(counts) == round(0.1 * sum(sizes))
    densities = [c / n for c, n in zip(counts, sizes, strict=True)]
    # sum(shape) / prod(shape): 74/640 (linear) > 25/432 (first conv) > 86/9216
    assert densities[2] > densities[0] > densities[1]
    assert densities[2] / densities[1] == pytest.approx((74 / 640) / (86 / 9216), rel=0.02)
    assert all(c <= n for c, n in zip(counts, sizes, strict=True))
