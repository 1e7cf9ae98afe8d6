"""One-shot prune + fine-tune: dense, one global magnitude prune at prune_at, then fixed."""

from __future__ import annotations

import torch

from methods.masks import magnitude_masks


def test_dense_then_one_global_prune_then_fixed(toy):
    ctx = toy.ctx(sparsity=0.9, total_steps=48)
    model = toy.model()
    method = toy.method("oneshot", ctx, prune_at=0.25)  # after step 12
    seen = {}

    def after(step):
        params = method.bind(model)
        if step < 12:
            assert not method.masks
        elif step == 12:
            seen["mask"] = {n: m.clone() for n, m in method.masks.items()}
            weights = {n: p.detach() for n, p in params.items()}
            again = magnitude_masks(weights, 0.9, scope="global")
            assert all(torch.equal(again[n], m) for n, m in method.masks.items())
        else:
            assert all(torch.equal(seen["mask"][n], m) for n, m in method.masks.items())
            assert all(not params[n].detach()[~m].any() for n, m in method.masks.items())

    toy.train(method, model, 48, after=after)
    kept = sum(int(m.sum()) for m in method.masks.values())
    total = sum(m.numel() for m in method.masks.values())
    assert kept == round(0.1 * total)
    per_layer = [1 - m.float().mean().item() for m in method.masks.values()]
    assert max(per_layer) - min(per_layer) > 0.01  # one global threshold, not one per layer
