"""One-shot prune + fine-tune: dense, one global magnitude prune at prune_at, then fixed."""

from __future__ import annotations

import torch
from torch import nn

from methods.masks import magnitude_masks

T, F = True, False


def two_layers() -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.5, -0.1], [0.3, -0.9]]))
        model[1].weight.copy_(torch.tensor([[0.2, -0.7, 0.05]]))
    return model


def test_one_magnitude_prune_by_hand(toy):
    ctx = toy.ctx(sparsity=0.5, total_steps=10)
    for scope, want in [
        # 7 weights, keep round(3.5) = 4 across both layers: 0.9, 0.7, 0.5, 0.3
        ("global", {"0.weight": [[T, F], [T, T]], "1.weight": [[F, T, F]]}),
        # each layer at 50%: a keeps 2 of 4 (0.9, 0.5), b round(1.5) = 2 of 3 (0.7, 0.2)
        ("layer", {"0.weight": [[T, F], [F, T]], "1.weight": [[T, T, F]]}),
        # ERK: 4 * (2 + 2, 1 + 3) / 8 = 2 and 2, here the same as the layer's counts
        ("erk", {"0.weight": [[T, F], [F, T]], "1.weight": [[T, T, F]]}),
    ]:
        trial = two_layers()
        method = toy.method("oneshot", ctx, scope=scope)
        assert [t for t in range(1, 11) if method.due(t)] == [5]  # prune_at = 0.5
        params = method.bind(trial)
        opt = torch.optim.SGD(trial.parameters(), lr=0.1, momentum=0.9)
        for p in params.values():
            opt.state[p]["momentum_buffer"] = torch.ones_like(p)
        method.update(5, opt)
        assert {n: m.tolist() for n, m in method.masks.items()} == want, scope
        for name, mask in method.masks.items():  # pruned weights and their momentum are zero
            assert not params[name].detach()[~mask].any()
            assert not opt.state[params[name]]["momentum_buffer"][~mask].any()


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


def test_filter_structure_needs_a_global_or_layer_scope():
    from methods.oneshot import OneShotOptions

    assert "scope 'global' or 'layer'" in OneShotOptions(scope="erk", structure="filter",
                                                         exclude_last_linear=True).validate()
    assert OneShotOptions(scope="er").validate() is None
