"""Sparse momentum: magnitude drop per layer, regrowth shared by mean |momentum|, capped."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

T, F = True, False


def two_layers() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 5, bias=False), nn.Linear(3, 2, bias=False))  # 20 and 6 weights


def test_prune_rate_is_cosine_decayed(toy):
    sm = toy.method("sm", toy.ctx(sparsity=0.5, total_steps=100, steps_per_epoch=10))
    assert sm.prune_rate(0) == pytest.approx(0.5)
    assert sm.prune_rate(50) == pytest.approx(0.25)
    assert sm.prune_rate(20) == pytest.approx(0.25 * (1 + math.cos(math.pi * 0.2)))
    assert sm.prune_rate(100) == 0.0


def test_drop_and_momentum_redistribution_by_hand(toy):
    model = two_layers()
    sm = toy.method("sm", toy.ctx(sparsity=0.5, total_steps=100, steps_per_epoch=10))
    params = sm.bind(model)
    a, b = params["0.weight"], params["1.weight"]
    with torch.no_grad():
        a.copy_(torch.cat([torch.arange(1.0, 11.0), torch.zeros(10)]).view(5, 4))  # 10 active
        b.copy_(torch.tensor([1.0, -2.0, 3.0, -4.0, 0.0, 0.0]).view(2, 3))          # 4 active
    sm.masks = {"0.weight": a.detach() != 0, "1.weight": b.detach() != 0}
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    mom_a = torch.cat([torch.ones(10), torch.full((10,), 0.1)])
    mom_a[15] = 2.0
    opt.state[a]["momentum_buffer"] = mom_a.view(5, 4).clone()
    opt.state[b]["momentum_buffer"] = torch.tensor([7.0, 7.0, -7.0, 7.0, 0.5, -0.2]).view(2, 3)
    sm.update(50, opt)  # prune rate 0.25
    # drop: a loses round(2.5) = 3 smallest (1, 2, 3); b loses round(1.0) = 1 (the 1.0)
    # regrow 4, shared by mean |momentum| of active weights 1 : 7 -> 0.5, 3.5; b holds only
    # 3 free slots, so b gets 3 and a gets 1, at a's free position of largest |momentum| (15)
    mask_a = sm.masks["0.weight"].reshape(-1)
    assert mask_a.nonzero().squeeze(1).tolist() == [3, 4, 5, 6, 7, 8, 9, 15]
    assert sm.masks["1.weight"].all()
    assert a.reshape(-1)[15] == 0 and a.reshape(-1)[:3].eq(0).all()
    assert b.reshape(-1).tolist() == [0.0, -2.0, 3.0, -4.0, 0.0, 0.0]  # regrown start at 0
    # flips: a loses 0, 1, 2 and gains 15; b gains 4, 5 (0 was dropped and regrown)
    assert sm.flips[-1]["flip_ratio"] == pytest.approx(6 / 26)


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
    kept = sum(int(m.sum()) for m in sm.masks.values())
    assert kept == round(0.2 * sum(m.numel() for m in sm.masks.values()))
