"""SNIP: normalized |g * w| on one batch, global top (1 - s), fixed hard mask."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from methods.snip import saliency

T, F_ = True, False


def two_layer() -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -1.0, 0.5], [0.2, 0.3, -2.0]]))
        model[1].weight.copy_(torch.tensor([[2.0, -1.0]]))
    return model


def sum_loss(out, y):
    return out.sum()


def test_saliency_by_hand():
    # x = (1, 2, 3): h = W1 x = (0.5, -5.2); out = W2 h.
    # d out / d W2 = h -> |g w| = (1.0, 5.2); d out / d W1 = W2^T x^T -> |g w| below.
    model = two_layer()
    batch = (torch.tensor([[1.0, 2.0, 3.0]]), torch.zeros(1))
    s = saliency(model, ["0.weight", "1.weight"], batch, sum_loss)
    expected = {"0.weight": torch.tensor([[2, 4, 3], [0.2, 0.6, 6]]) / 22,
                "1.weight": torch.tensor([[1.0, 5.2]]) / 22}
    for name, want in expected.items():
        assert torch.allclose(s[name], want, atol=1e-6)
    assert sum(float(v.sum()) for v in s.values()) == pytest.approx(1.0)
    assert model[0].weight.grad is None  # computed on a copy


def test_snip_keeps_the_global_top_and_holds_the_mask(toy):
    model = two_layer()
    snip = toy.method("snip", toy.ctx(sparsity=0.5, total_steps=4))
    snip.setup(model, (torch.tensor([[1.0, 2.0, 3.0]]), torch.zeros(1)), sum_loss)
    # ranking 6, 5.2, 4, 3 | 2, 1, 0.6, 0.2: keep four of eight
    assert snip.masks["0.weight"].tolist() == [[F_, T, T], [F_, F_, T]]
    assert snip.masks["1.weight"].tolist() == [[F_, T]]
    assert model[0].weight[0, 0] == 0 and model[1].weight[0, 0] == 0


def test_snip_leaves_batchnorm_statistics_alone_and_mask_fixed(toy):
    model = toy.model()
    ctx = toy.ctx(sparsity=0.9, total_steps=16)
    snip = toy.method("snip", ctx)
    stats = model[2].running_mean.clone()
    snip.setup(model, toy.batch(0), F.cross_entropy)
    assert torch.equal(model[2].running_mean, stats)
    first = {n: m.clone() for n, m in snip.masks.items()}
    toy.train(snip, model, 16, start=1)
    assert all(torch.equal(first[n], m) for n, m in snip.masks.items())
    params = snip.bind(model)
    assert all(not params[n].detach()[~m].any() for n, m in snip.masks.items())


def test_snip_with_a_per_layer_distribution(toy):
    # s = 0.25 keeps 6 of 8. Global: 6, 5.2, 4, 3, 2, 1 (four and two). Uniform: 6 * (6, 2) / 8
    # = 4.5, 1.5 -> a tie of remainders, the lower layer first: five and one.
    for distribution, first, second in [
        ("global", [[T, T, T], [F_, F_, T]], [[T, T]]),
        ("uniform", [[T, T, T], [F_, T, T]], [[F_, T]]),
    ]:
        model = two_layer()
        snip = toy.method("snip", toy.ctx(sparsity=0.25, total_steps=4), distribution=distribution)
        snip.setup(model, (torch.tensor([[1.0, 2.0, 3.0]]), torch.zeros(1)), sum_loss)
        assert snip.masks["0.weight"].tolist() == first, distribution
        assert snip.masks["1.weight"].tolist() == second, distribution
