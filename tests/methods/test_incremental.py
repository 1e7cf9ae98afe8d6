"""Incremental (gradual magnitude) pruning: per-layer cubic schedule, hard masks that only shrink."""

from __future__ import annotations

import torch
from torch import nn

from methods.masks import kept_count
from methods.schedules import cubic_sparsity

T, F = True, False


def test_layerwise_shrinking_masks_by_hand(toy):
    # s_f = 0.75, t1 = second drop = 30, prune every 10: s_10 = 0.75 (1 - (2/3)^3) = 0.528,
    # s_20 = 0.75 (1 - 1/27) = 0.722, s_30 = 0.75. A layer of 4 keeps round(4 (1 - s)) =
    # 2, 1, 1 weights; a layer of 6 keeps 3, 2, 2 (2: round(1.5) rounds half up).
    model = nn.Sequential(nn.Linear(4, 1, bias=False), nn.Linear(6, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.4, -0.1, 0.3, -0.2]]))
        model[1].weight.copy_(torch.tensor([[0.6, 0.5, -0.4, 0.3, 0.2, -0.1]]))
    method = toy.method("incremental", toy.ctx(sparsity=0.75, total_steps=40), prune_every=10)
    assert [t for t in range(1, 41) if method.due(t)] == [10, 20, 30]
    params = method.bind(model)
    a, b = params["0.weight"], params["1.weight"]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    method.update(10, opt)
    assert method.masks["0.weight"].tolist() == [[T, F, T, F]]
    assert method.masks["1.weight"].tolist() == [[T, T, T, F, F, F]]
    with torch.no_grad():
        a[0, 2] = 0.05   # a kept weight became small: it goes next
        b[0, 0] = 0.01
        b[0, 5] = 9.0    # a pruned weight, however large, does not come back
    method.update(20, opt)
    assert method.masks["0.weight"].tolist() == [[T, F, F, F]]
    assert method.masks["1.weight"].tolist() == [[F, T, T, F, F, F]]
    assert b[0, 5] == 0
    method.update(30, opt)
    assert [int(m.sum()) for m in method.masks.values()] == [1, 2]


def test_layerwise_schedule_shrinking_masks_and_frozen_zeros(toy):
    ctx = toy.ctx(sparsity=0.75, total_steps=64)  # t1 = second drop = 48
    model = toy.model()
    method = toy.method("incremental", ctx, prune_every=8)
    history: list[tuple[int, dict[str, torch.Tensor]]] = []
    state = {}

    def after(step):
        params = method.bind(model)
        if method.masks and (not history or any(not torch.equal(method.masks[n], history[-1][1][n])
                                                for n in method.masks)):
            history.append((step, {n: m.clone() for n, m in method.masks.items()}))
        for name, m in method.masks.items():  # pruned weights are zero and get no momentum
            assert not params[name].detach()[~m].any()
            buf = state["opt"].state[params[name]]["momentum_buffer"]
            assert not buf[~m].any()

    state["opt"] = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                   weight_decay=1e-4)
    toy.train(method, model, 64, optimizer=state["opt"], after=after)
    assert [s for s, _ in history] == [8, 16, 24, 32, 40, 48]
    for (_, earlier), (_, later) in zip(history, history[1:], strict=False):
        assert all(not (later[n] & ~earlier[n]).any() for n in later)  # only shrink
    for step, masks in history:
        target = cubic_sparsity(step, 0.75, begin=0, end=48)
        for m in masks.values():  # one threshold per layer: each layer at the schedule
            assert int(m.sum()) == kept_count(m.numel(), target)
    assert all(f["flip_ratio"] > 0 for f in method.flips)


def test_updates_stop_at_the_end_of_the_schedule(toy):
    method = toy.method("incremental", toy.ctx(total_steps=64), prune_every=10,
                        schedule_start=0.25, schedule_end=0.5)  # t0 = 16, t1 = 32
    assert [t for t in range(1, 65) if method.due(t)] == [16, 26, 32]


def test_er_scope_shares_by_hand_and_masks_still_only_shrink(toy):
    # a: 4 -> 4 (16 weights, ER weight 4 + 4 = 8), b: 8 -> 1 (8 weights, 9). s = 0.5 keeps
    # 12: 12 * (8, 9) / 17 = 5.65, 6.35 -> 6 and 6 (uniform would be 8 and 4); s = 0.75
    # keeps 6: 2.82, 3.18 -> 3 and 3
    model = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(8, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(16, 0, -1).mul(0.01).view(4, 4))
        model[1].weight.copy_(torch.tensor([[0.5, -0.45, 0.4, -0.35, 0.3, -0.25, 0.2, -0.15]]))
    method = toy.method("incremental", toy.ctx(sparsity=0.75, total_steps=40), scope="er")
    method.bind(model)
    first = method.select(0.5)
    assert first["0.weight"].reshape(-1).tolist() == [T] * 6 + [F] * 10
    assert first["1.weight"].reshape(-1).tolist() == [T] * 6 + [F] * 2
    method.masks = first
    with torch.no_grad():
        model[0].weight.view(-1)[15] = 10.0  # a pruned position grows large: it stays pruned
    second = method.select(0.75)
    assert second["0.weight"].reshape(-1).tolist() == [T] * 3 + [F] * 13
    assert second["1.weight"].reshape(-1).tolist() == [T] * 3 + [F] * 5
