"""Random pruning at initialization: exact per-layer counts by distribution, a draw fixed
by the seed, and a mask that never moves."""

from __future__ import annotations

import torch
from torch import nn

from methods.distributions import layer_counts


def three_layers() -> nn.Module:
    """A 3x3 conv 2 -> 4 (72 weights), a 1x1 conv 4 -> 8 (32), a linear 8 -> 3 (24)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.Conv2d(4, 8, 1, bias=False),
                         nn.Flatten(), nn.Linear(8, 3, bias=False))


def test_counts_per_layer_follow_the_distribution(toy):
    # the hand-computed counts of tests/methods/test_distributions.py at s = 0.5
    for distribution, want in [("uniform", [36, 16, 12]), ("erk", [21, 24, 19]), ("er", [45, 10, 9])]:
        model = three_layers()
        method = toy.method("random", toy.ctx(sparsity=0.5), distribution=distribution)
        method.setup(model, toy.batch(0), None)
        assert [int(m.sum()) for m in method.masks.values()] == want, distribution
        assert all(not p.detach()[~method.masks[n]].any() for n, p in method._params.items())
    method = toy.method("random", toy.ctx(sparsity=0.5), distribution="global")
    method.setup(three_layers(), toy.batch(0), None)
    assert sum(int(m.sum()) for m in method.masks.values()) == 64


def test_first_conv_and_classifier_can_stay_dense(toy):
    method = toy.method("random", toy.ctx(sparsity=0.5), distribution="erk",
                        exclude_first_conv=True, exclude_last_linear=True)
    method.setup(three_layers(), toy.batch(0), None)
    assert list(method.masks) == ["1.weight"] and int(method.masks["1.weight"].sum()) == 16


def test_the_draw_is_the_seed_s_and_the_same_as_sparse_momentum_starts_from(toy):
    def masks(name, seed, **options):
        method = toy.method(name, toy.ctx(sparsity=0.8, seed=seed), **options)
        method.setup(toy.model(), toy.batch(0), None)
        return method.masks

    a, b, c = masks("random", 0), masks("random", 0), masks("random", 1)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert any(not torch.equal(a[n], c[n]) for n in a)
    sm = masks("sm", 0)
    assert all(torch.equal(a[n], sm[n]) for n in a)
    assert [int(m.sum()) for m in a.values()] == layer_counts(
        "uniform", [tuple(m.shape) for m in a.values()], 0.8)


def test_the_mask_is_fixed_and_pruned_weights_stay_zero(toy):
    model = toy.model()
    method = toy.method("random", toy.ctx(sparsity=0.8, total_steps=32))
    method.setup(model, toy.batch(0), None)
    start = {n: m.clone() for n, m in method.masks.items()}

    def check(step):
        assert all(torch.equal(method.masks[n], start[n]) for n in start)
        assert all(not p.detach()[~start[n]].any() for n, p in method._params.items())

    toy.train(method, model, 32, start=1, after=check)
    assert method.flips == []
