"""Sparse momentum: each rule of the reference on a few layers of a few weights, by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from methods.sm import SMOptions
from suite.errors import SpecError
from suite.options import parse_options

T, F = True, False


def layers(*sizes: int) -> nn.Module:
    """Bias-free linear layers of ``sizes`` weights each (2 x n/2; never run forward)."""
    return nn.Sequential(*(nn.Linear(n // 2, 2, bias=False) for n in sizes))


def install(sm, model, weights, momenta):
    """Give each layer its flat ``weights`` (zeros are inactive) and ``momenta``."""
    params = sm.bind(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for p, w, m in zip(params.values(), weights, momenta, strict=True):
        with torch.no_grad():
            p.copy_(torch.tensor(w).view_as(p))
        opt.state[p]["momentum_buffer"] = torch.tensor(m).view_as(p).clone()
    sm.masks = {n: p.detach() != 0 for n, p in params.items()}
    return params, opt


def kept(sm) -> list[int]:
    return [int(m.sum()) for m in sm.masks.values()]


def test_prune_rate_is_cosine_decayed_to_a_floor(toy):
    ctx = toy.ctx(sparsity=0.5, total_steps=100, steps_per_epoch=10)
    sm = toy.method("sm", ctx)
    assert sm.prune_rate(0) == 0.5
    assert sm.prune_rate(50) == pytest.approx(0.005 + 0.495 * 0.5)  # 0.2525
    assert sm.prune_rate(20) == pytest.approx(0.005 + 0.495 * 0.5 * (1 + math.cos(math.pi * 0.2)))
    assert sm.prune_rate(100) == 0.005 and sm.prune_rate(120) == 0.005
    no_floor = toy.method("sm", ctx, prune_rate_floor=0.0)
    assert no_floor.prune_rate(50) == pytest.approx(0.25) and no_floor.prune_rate(100) == 0.0


def test_drop_rounds_up_and_regrowth_may_take_dropped_positions(toy):
    model = layers(20)
    sm = toy.method("sm", toy.ctx(sparsity=0.65, total_steps=100), prune_rate=0.3)
    weights = [[-1.0, 2.0, -3.0, 4.0, 5.0, -6.0, 7.0] + [0.0] * 13]
    momentum = [0.1] * 20
    momentum[:7] = [9.0] * 7        # active: never "grown"
    momentum[0], momentum[1], momentum[2] = 0.5, 5.0, 0.2
    momentum[12], momentum[19] = -4.0, 3.0
    params, opt = install(sm, model, weights, [momentum])
    before = opt.state[params["0.weight"]]["momentum_buffer"].clone()
    sm.update(0, opt)  # prune rate 0.3: ceil(0.3 * 7) = ceil(2.1) = 3 go (rounding half up: 2)
    # dropped: |w| = 1, 2, 3 at 0, 1, 2; regrown: the 3 free positions of largest
    # |momentum|: 1 (dropped, taken again), 12, 19
    mask = sm.masks["0.weight"].reshape(-1)
    assert mask.nonzero().squeeze(1).tolist() == [1, 3, 4, 5, 6, 12, 19]
    w = params["0.weight"].detach().reshape(-1)
    assert w[:7].tolist() == [0.0, 0.0, 0.0, 4.0, 5.0, -6.0, 7.0]  # regrown start at 0
    assert not w[7:].any()
    # momentum is left alone, dropped and missing weights included
    assert torch.equal(opt.state[params["0.weight"]]["momentum_buffer"], before)
    assert sm.flips[-1]["flip_ratio"] == pytest.approx(4 / 20)  # 0 and 2 off, 12 and 19 on


def test_near_dense_layers_with_an_above_average_share_prune_at_their_sparsity(toy):
    # a and c are 90% dense; b is half dense. Mean |momentum| of the active weights:
    # 3, 1, 0.5 -> shares 2/3, 2/9, 1/9 against the average 1/3.
    model = layers(10, 10, 10)
    sm = toy.method("sm", toy.ctx(sparsity=0.5, total_steps=100))
    nine = [float(i) for i in range(1, 10)] + [0.0]
    five = [1.0, 2.0, 3.0, 4.0, 5.0] + [0.0] * 5
    free = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    momenta = [[3.0] * 9 + [0.7], [1.0] * 5 + free[5:], [0.5] * 9 + [0.2]]
    params, opt = install(sm, model, [nine, five, nine], momenta)
    # a: min(its sparsity 0.1, 0.5); c is near dense too, but its share is below 1/3
    assert sm.layer_rates(0, opt) == {"0.weight": 0.1, "1.weight": 0.5, "2.weight": 0.5}
    # a drops ceil(0.1 * 9) = 1, b ceil(2.5) = 3, c ceil(4.5) = 5
    assert [int(m.sum()) for m in sm.drop(0, opt).values()] == [8, 2, 4]
    off = toy.method("sm", toy.ctx(sparsity=0.5, total_steps=100), adjust_near_dense=False)
    _, off_opt = install(off, model, [nine, five, nine], momenta)
    assert [int(m.sum()) for m in off.drop(0, off_opt).values()] == [4, 2, 4]
    sm.update(0, opt)
    # regrow 9 by shares 6, 2, 1; a may take floor(0.99 * 2) = 1 of its 2 free positions,
    # its surplus of 5 goes equally to b and c (2.5 each, the odd one to b): 1, 5, 3
    assert kept(sm) == [9, 7, 7]


def test_a_layer_regrows_at_most_099_of_its_free_slots_and_the_surplus_is_shared_equally(toy):
    # a holds 8 of 10, b 6, c 2; mean |momentum| 0.9, 0.01, 0.09 (shares of 1.0).
    # Prune rate 0.5: a drops 4 (6 free, cap floor(5.94) = 5), b 3 (7 free, cap 6),
    # c 1 (9 free, cap 8); 8 to regrow, shared 7.2, 0.08, 0.72 -> 7, 0, 1.
    model = layers(10, 10, 10)
    weights = [[float(i) for i in range(1, 9)] + [0.0] * 2,
               [float(i) for i in range(1, 7)] + [0.0] * 4,
               [1.0, 2.0] + [0.0] * 8]
    momenta = [[0.9] * 8 + [0.3, 0.4], [0.01] * 6 + [0.1, 0.2, 0.3, 0.4],
               [0.09] * 2 + [0.1 * i for i in range(1, 9)]]
    expected = {
        # a is capped at 5; its surplus of 2 goes 1 and 1 to b and c
        (): [8 - 4 + 5, 6 - 3 + 1, 2 - 1 + 2],
        # the surplus shared by momentum again: 3 over b : c = 0.01 : 0.09 -> 0, 3
        (("overflow", "momentum"),): [9, 3, 4],
        # version 1: every free slot may be taken, a gets 6, the 2 left go 0 and 2
        (("overflow", "momentum"), ("growth_cap", 1.0)): [10, 3, 3],
    }
    for options, counts in expected.items():
        sm = toy.method("sm", toy.ctx(sparsity=0.5, total_steps=100), **dict(options))
        _, opt = install(sm, model, weights, momenta)
        sm.update(0, opt)
        assert kept(sm) == counts, options
        assert sum(counts) == 16  # the active count never changes


def test_momentum_stays_dense_and_weights_stay_sparse(toy):
    ctx = toy.ctx(sparsity=0.8, total_steps=48, steps_per_epoch=16)
    model = toy.model()
    sm = toy.method("sm", ctx)
    opt = toy.train(sm, model, 8)
    params = sm.bind(model)
    for name, m in sm.masks.items():
        assert not params[name].detach()[~m].any()
        assert opt.state[params[name]]["momentum_buffer"][~m].abs().sum() > 0
    toy.train(sm, model, 40, start=8, optimizer=opt)
    assert [f["step"] for f in sm.flips] == [16, 32]  # epoch ends, not after the last epoch
    assert all(f["flip_ratio"] > 0 for f in sm.flips)
    kept_now = sum(int(m.sum()) for m in sm.masks.values())
    assert kept_now == round(0.2 * sum(m.numel() for m in sm.masks.values()))


@pytest.mark.parametrize(("table", "key"), [
    ({"prune_rate": 1.0}, "prune_rate"),
    ({"prune_rate": 0.0}, "prune_rate_floor"),   # the floor must not exceed the rate
    ({"growth_cap": 0.0}, "growth_cap"),
    ({"overflow": "spread"}, "overflow"),
])
def test_options_are_validated(table, key):
    with pytest.raises(SpecError, match=key):
        parse_options(SMOptions, table, "method.sm")
