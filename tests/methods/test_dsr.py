"""DSR: adaptive global threshold (halve / double), random regrowth by non-zeros."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from methods.dsr import adjust_threshold


@pytest.mark.parametrize(("pruned", "expected"), [
    (50, 0.02),    # too few (< 0.9 * 100): double
    (89, 0.02),
    (90, 0.01),    # within tolerance: keep
    (110, 0.01),
    (111, 0.005),  # too many (> 1.1 * 100): halve
])
def test_threshold_halving_and_doubling(pruned, expected):
    assert adjust_threshold(0.01, pruned, 100, 0.1) == pytest.approx(expected)


def test_rewire_by_hand(toy):
    model = nn.Sequential(nn.Linear(5, 2, bias=False), nn.Linear(2, 5, bias=False))  # 10 + 10
    dsr = toy.method("dsr", toy.ctx(sparsity=0.5, total_steps=100), exclude_first_conv=False,
                     exclude_last_linear=False, initial_threshold=0.5, prune_fraction=0.5)
    params = dsr.bind(model)
    a, b = params["0.weight"], params["1.weight"]
    with torch.no_grad():
        a.copy_(torch.tensor([0.1, -0.2, 0.6, 0.7, -0.8, 0.9, 0, 0, 0, 0]).view(2, 5))
        b.copy_(torch.tensor([0.3, 1.0, -1.1, 1.2, 0, 0, 0, 0, 0, 0]).view(5, 2))
    before = {"0.weight": a.detach() != 0, "1.weight": b.detach() != 0}
    dsr.masks = dict(before)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    dsr.update(10, opt)
    # |w| < 0.5 pruned: 0.1, 0.2 in a and 0.3 in b -> K = 3 < 0.9 * N_p (N_p = 0.5 * 10)
    assert dsr.threshold == 1.0
    # regrow 3 in proportion to non-zeros after pruning, 4 : 3 -> 1.71, 1.29 -> 2, 1
    grown = {n: dsr.masks[n] & ~(before[n] & (params[n].detach().abs() >= 0.5)) for n in before}
    assert int(grown["0.weight"].sum()) == 2 and int(grown["1.weight"].sum()) == 1
    assert all(not params[n].detach()[g].any() for n, g in grown.items())  # start at zero
    assert sum(int(m.sum()) for m in dsr.masks.values()) == 10
    # next period: everything active is below 1.0 except b's 1.0, 1.1, 1.2 -> too many: halve
    dsr.update(20, opt)
    assert dsr.threshold == 0.5
    assert sum(int(m.sum()) for m in dsr.masks.values()) == 10


def test_defaults_keep_first_conv_and_classifier_dense_and_hit_the_target(toy):
    ctx = toy.ctx(sparsity=0.9, total_steps=48)
    model = toy.model("small_cnn")
    dsr = toy.method("dsr", ctx, rewire_every=8)
    toy.train(dsr, model, 48)
    assert list(dsr.masks) == ["3.weight"]  # conv 0 and linear 8 are not DSR's to prune
    assert (model[0].weight != 0).all() and (model[8].weight != 0).all()
    w = model[3].weight
    assert (w == 0).float().mean().item() == pytest.approx(0.9, abs=1 / w.numel())
    assert [f["step"] for f in dsr.flips] == [8, 16, 24, 32, 40]  # none within the last period
    state = dsr.state_dict()
    fresh = toy.method("dsr", ctx, rewire_every=8)
    fresh.bind(model)
    fresh.load_state_dict(state)
    assert fresh.threshold == dsr.threshold
