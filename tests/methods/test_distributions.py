"""How much per layer: apportionment with caps, uniform and Erdős–Rényi counts, and the
masks of each sparsity distribution."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from methods.distributions import (
    apportion,
    apportion_spill_equally,
    distribution_masks,
    er_counts,
    erdos_renyi_counts,
    erk_counts,
    layer_counts,
    random_distribution_masks,
    uniform_counts,
)


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


# Three layers: a 3x3 conv 2 -> 4 (72 weights), a 1x1 conv 4 -> 8 (32), a linear 8 -> 3 (24).
LAYERS = [(4, 2, 3, 3), (8, 4, 1, 1), (3, 8)]


def test_erk_counts_by_hand_with_the_iterative_fix():
    # sum(shape): 12, 14, 11 (37 in all); 64 of 128 kept at s = 0.5:
    # 64 * (12, 14, 11) / 37 = 20.76, 24.22, 19.03 -> 20, 24, 19 and one more to layer 0
    assert erk_counts(LAYERS, 0.5) == [21, 24, 19]
    # s = 0.3 keeps 90: 90 * 14 / 37 = 34.05 > 32, so layer 1 is dense; 58 left for
    # (12, 11): 58 * 11 / 23 = 27.7 > 24, so layer 2 is dense too; layer 0 takes 34
    assert erk_counts(LAYERS, 0.3) == [34, 32, 24]
    assert layer_counts("erk", LAYERS, 0.3) == layer_counts("erdos_renyi", LAYERS, 0.3) == [34, 32, 24]


def test_er_counts_by_hand_leave_the_kernel_out():
    # (n_in + n_out) * kernel size: 6 * 9 = 54, 12 * 1 = 12, 11 (77 in all), i.e. densities
    # proportional to 6/8, 12/32, 11/24; 64 * (54, 12, 11) / 77 = 44.88, 9.97, 9.14
    assert er_counts(LAYERS, 0.5) == [45, 10, 9]
    # s = 0.2 keeps 102: 102 * 54 / 77 = 71.5 <= 72, 102 * 12 / 77 = 15.9, 102 * 11 / 77 = 14.6
    # -> 71, 15, 14 and the two left to layers 1 and 2 (remainders .53, .90, .57)
    assert er_counts(LAYERS, 0.2) == [71, 16, 15]
    assert layer_counts("uniform", LAYERS, 0.5) == [36, 16, 12]
    assert layer_counts("global", LAYERS, 0.5) is None
    with pytest.raises(ValueError, match="'erk' or 'er'"):
        layer_counts("erx", LAYERS, 0.5)


def test_er_and_erk_make_a_layer_that_would_exceed_density_one_dense():
    # a 2 -> 2 linear (sum 4 over 4 weights) beside a 16 -> 16 one (32 over 256):
    # at s = 0.5, 130 * 4 / 36 = 14.4 > 4, so the small layer is dense and the big one
    # keeps the other 126 (exactly 130 = kept_count(260, 0.5) in all)
    for counts in (erk_counts, er_counts):
        assert counts([(2, 2), (16, 16)], 0.5) == [4, 126]


def scores_two_layers():
    conv = torch.arange(1, 9, dtype=torch.float).mul(0.01).view(2, 1, 2, 2)  # 0.01 .. 0.08
    linear = torch.tensor([[0.9, -0.15], [0.85, 0.25], [-0.35, 0.45]])
    return {"conv": conv, "linear": linear}


def test_distribution_masks_by_hand():
    # 14 weights, 7 kept at s = 0.5; ERK shares 7 * (7, 5) / 12 -> (4, 3), as uniform
    # (7 * (8, 6) / 14); ER shares 7 * (12, 5) / 17 = 4.94, 2.06 -> (5, 2)
    s = scores_two_layers()
    want = {
        "global": ([0, 0, 0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1]),
        "uniform": ([0, 0, 0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 0, 1]),
        "erk": ([0, 0, 0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 0, 1]),
        "er": ([0, 0, 0, 1, 1, 1, 1, 1], [1, 0, 1, 0, 0, 0]),
    }
    for distribution, (conv, linear) in want.items():
        masks = distribution_masks(s, 0.5, distribution, magnitude=True)
        assert masks["conv"].reshape(-1).tolist() == [bool(v) for v in conv], distribution
        assert masks["linear"].reshape(-1).tolist() == [bool(v) for v in linear], distribution
        assert masks["conv"].shape == (2, 1, 2, 2)
    # without magnitude the negative -0.35 and -0.15 rank last
    signed = distribution_masks(s, 0.5, "global")
    assert signed["linear"].reshape(-1).tolist() == [True, False, True, True, False, True]


def test_random_distribution_masks_exact_counts_and_global_pools_the_draw():
    shapes = {n: torch.Size(s) for n, s in zip("abc", LAYERS, strict=True)}
    for distribution, want in [("uniform", [36, 16, 12]), ("erk", [21, 24, 19]), ("er", [45, 10, 9])]:
        masks = random_distribution_masks(shapes, 0.5, distribution, torch.Generator().manual_seed(3))
        assert [int(m.sum()) for m in masks.values()] == want
    pooled = random_distribution_masks(shapes, 0.5, "global", torch.Generator().manual_seed(3))
    # one uniform draw per position, layer by layer: the 64 largest, wherever they fall
    generator = torch.Generator().manual_seed(3)
    draws = torch.cat([torch.rand(72, generator=generator), torch.rand(32, generator=generator),
                       torch.rand(24, generator=generator)])
    flat = torch.cat([pooled[n].reshape(-1) for n in "abc"])
    assert int(flat.sum()) == 64
    assert torch.equal(flat, draws >= draws.sort(descending=True).values[63])
