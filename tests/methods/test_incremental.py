"""Incremental (gradual magnitude) pruning: per-layer cubic schedule, hard masks that only shrink."""

from __future__ import annotations

import torch

from methods.masks import kept_count
from methods.schedules import cubic_sparsity


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
