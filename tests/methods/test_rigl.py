"""RigL: drop by magnitude, grow by the dense gradient, per layer, every ΔT steps until
T_end with a cosine-decayed fraction; each rule by hand on a few weights."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from methods.distributions import erk_counts
from methods.rigl import RigLOptions

T, F_ = True, False


def test_schedule_every_delta_t_until_t_end_with_a_cosine_fraction(toy):
    method = toy.method("rigl", toy.ctx(total_steps=1000))
    assert [t for t in range(1, 1001) if method.due(t)] == [100, 200, 300, 400, 500, 600, 700]
    assert method.drop_fraction(0) == 0.3
    assert math.isclose(method.drop_fraction(375), 0.15)
    assert math.isclose(method.drop_fraction(100), 0.15 * (1 + math.cos(math.pi * 100 / 750)))
    # stop = 1: no update within the last period, so grown weights get trained
    late = toy.method("rigl", toy.ctx(total_steps=300), update_every=100, stop=1.0)
    assert [t for t in range(1, 301) if late.due(t)] == [100, 200]


def two_layers() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 2, bias=False), nn.Linear(2, 2, bias=False))


def test_one_update_by_hand(toy):
    # T_end = 300, step 100: f = 0.5 / 2 * (1 + cos(pi / 3)) = 0.375
    method = toy.method("rigl", toy.ctx(sparsity=0.25, total_steps=400), alpha=0.5)
    model = two_layers()
    weights = [[0.5, -0.2, 0.1, 0.3, -0.6, 0.0, 0.0, 0.0], [0.3, -0.4, 0.2, -0.1]]
    grads = [[9.0, 9.0, 0.05, 9.0, 9.0, 0.3, -0.8, 0.1], [1.0, 1.0, 1.0, 1.0]]
    params, opt = toy.install(method, model, weights, grads)
    method.on_gradients(100, model)
    method.update(100, opt)
    # layer 0: floor(0.375 * 5) = 1 drop, |0.1| at 2; grow 1 where |g| is largest among
    # 2, 5, 6, 7 (0.05, 0.3, 0.8, 0.1): 6, at zero with zero momentum
    assert method.masks["0.weight"].reshape(-1).tolist() == [T, T, F_, T, T, F_, T, F_]
    # layer 1 is full: floor(0.375 * 4) = 1 drop, |-0.1| at 3, the only free position,
    # so it comes straight back and keeps its weight and momentum
    assert method.masks["1.weight"].reshape(-1).tolist() == [T, T, T, T]
    w0, w1 = (p.detach().reshape(-1) for p in params.values())
    assert torch.equal(w0, torch.tensor([0.5, -0.2, 0.0, 0.3, -0.6, 0.0, 0.0, 0.0]))
    assert torch.equal(w1, torch.tensor([0.3, -0.4, 0.2, -0.1]))
    m0, m1 = (opt.state[p]["momentum_buffer"].reshape(-1) for p in params.values())
    assert m0.tolist() == [1, 1, 0, 1, 1, 0, 0, 0] and m1.tolist() == [1, 1, 1, 1]
    assert method.flips == [{"step": 100, "flip_ratio": 2 / 12}]


def test_growth_uses_the_dense_gradient_of_the_update_step(toy):
    # through the real cycle: the hook sees the gradient before hard masks zero it
    model = nn.Sequential(nn.Linear(64, 8, bias=False), nn.ReLU(), nn.Linear(8, 10, bias=False))
    method = toy.method("rigl", toy.ctx(sparsity=0.8, total_steps=10), update_every=1,
                        exclude_first_conv=False)
    x, y = toy.batch(0)
    method.setup(model, (x.reshape(len(x), -1), y), F.cross_entropy)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the weights stay, the drop is by hand
    F.cross_entropy(model(x.reshape(len(x), -1)), y).backward()
    params = method._params
    dense = {n: p.grad.clone() for n, p in params.items()}
    before = {n: m.clone() for n, m in method.masks.items()}
    method.before_optimizer_step(model, opt)
    assert all(not params[n].grad[~before[n]].any() for n in params)  # masked for the step
    assert all(dense[n][~before[n]].abs().sum() > 0 for n in params)  # but it was not zero there
    opt.step()
    method.after_optimizer_step(1, model, opt)
    for name, mask in method.masks.items():
        w, alive = params[name].detach(), int(before[name].sum())
        drop = math.floor(0.3 / 2 * (1 + math.cos(math.pi / 8)) * alive)  # T_end = 8
        kept = torch.zeros_like(mask)
        kept.view(-1)[torch.where(before[name], w.abs(), -1.0).reshape(-1).topk(alive - drop).indices] = True
        grown = mask & ~kept
        assert int(grown.sum()) == drop and int(mask.sum()) == alive
        # every grown gradient is at least as large as every free one not grown
        assert dense[name].abs()[grown].min() >= dense[name].abs()[~mask].max()


def test_erk_start_first_conv_dense_and_counts_kept(toy):
    model = toy.model("small_cnn")
    method = toy.method("rigl", toy.ctx(sparsity=0.8, total_steps=64), update_every=8)
    toy.train(method, model, 64)
    assert "0.weight" not in method.masks  # the first conv stays dense
    shapes = [tuple(p.shape) for p in method._params.values()]
    assert [int(m.sum()) for m in method.masks.values()] == erk_counts(shapes, 0.8)
    assert [f["step"] for f in method.flips] == [8, 16, 24, 32, 40, 48]  # T_end = 48


def test_options_are_checked():
    assert "update_every" in RigLOptions(update_every=0).validate()
    assert "alpha" in RigLOptions(alpha=1.5).validate()
    assert "stop" in RigLOptions(stop=0.0).validate()
    o = RigLOptions()
    assert (o.distribution, o.update_every, o.alpha, o.stop) == ("erk", 100, 0.3, 0.75)
    assert o.exclude_first_conv and not o.exclude_last_linear
