"""GraNet: the cubic schedule's global magnitude pruning, then per-layer drop by
magnitude and regrowth by the dense gradient with a cosine-decayed death rate; each
rule by hand on a few weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from methods import METHODS
from methods.distributions import erk_counts, uniform_counts
from methods.granet import GraNetOptions
from methods.masks import kept_count

T, F = True, False


def test_schedule_updates_every_delta_t_and_at_t1_none_regrowing_in_the_last_delta_t(toy):
    # t1 = the second lr drop, 750; ΔT = 100: updates on the grid and at t1 itself, and
    # after the schedule on to the end of training, none within the last ΔT
    method = toy.method("granet", toy.ctx(sparsity=0.9, total_steps=1000), update_every=100)
    assert [t for t in range(1, 1001) if method.due(t)] == [100, 200, 300, 400, 500, 600, 700, 750,
                                                            800, 900]
    assert method.target(0) == 0.0 and method.target(750) == 0.9 and method.target(900) == 0.9
    assert math.isclose(method.target(250), 0.9 - 0.9 * (1 - 250 / 750) ** 3)
    # the death rate: 0.5 cosine-decayed over all 1000 steps to 0.005
    assert method.drop_fraction(0) == 0.5
    assert math.isclose(method.drop_fraction(500), 0.005 + 0.495 / 2)
    assert math.isclose(method.drop_fraction(900), 0.005 + 0.495 / 2 * (1 + math.cos(0.9 * math.pi)))
    # t1 within the last ΔT: that update prunes to the target and regrows nothing
    late = toy.method("granet", toy.ctx(sparsity=0.9, total_steps=400, milestones=(0.5, 0.95)),
                      update_every=100)
    assert [t for t in range(1, 401) if late.due(t)] == [100, 200, 300, 380]
    assert late.drop_fraction(380) == 0.0 and late.drop_fraction(300) > 0
    # stop: no regeneration after it, but the schedule still prunes on the grid up to t1
    early = toy.method("granet", toy.ctx(sparsity=0.9, total_steps=1000), update_every=100, stop=0.3)
    assert [t for t in range(1, 1001) if early.due(t)] == [100, 200, 300, 400, 500, 600, 700, 750]
    assert early.drop_fraction(400) == 0.0


def two_layers() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 2, bias=False), nn.Linear(2, 2, bias=False))


def test_one_update_by_hand(toy):
    # T = 400, t1 = 300; after step 100 the schedule's sparsity is 0.5 - 0.5 (2/3)^3
    # = 0.3519: kept_count(12) = 8; the death rate (min 0) is 0.25 (1 + cos(pi / 4)) = 0.4268
    method = toy.method("granet", toy.ctx(sparsity=0.5, total_steps=400), update_every=100,
                        death_rate_min=0.0)
    model = two_layers()
    weights = [[0.9, -0.8, 0.05, 0.7, -0.02, 0.6, 0.01, -0.5], [0.4, -0.03, 0.3, -0.2]]
    grads = [[9.0, 9.0, 0.1, 0.2, 5.0, 4.0, 0.3, 3.0], [1.0, 2.0, 0.5, 1.5]]
    params, opt = toy.install(method, model, weights, grads, masks=False)
    method.setup(model, None, None)
    assert all(m.all() for m in method.masks.values())  # s_i = 0: a dense start
    assert method.due(100)
    method.on_gradients(100, model)
    method.update(100, opt)
    # pruning, one ranking over both layers: 0.05, 0.03, -0.02, 0.01 go (0.2 is the 8th);
    # layer 0 keeps 5: ceil(0.4268 * 5) = 3 die (0.5, 0.6, 0.7 at 7, 5, 3); it grows 3
    # where |g| is largest among 2..7: 4 (just pruned: from zero), 5 and 7 (just
    # dropped: they come straight back with their weight and momentum)
    assert method.masks["0.weight"].reshape(-1).tolist() == [T, T, F, F, T, T, F, T]
    # layer 1 keeps 3: ceil(0.4268 * 3) = 2 die (-0.2 at 3, 0.3 at 2); it grows 2 among
    # 1, 2, 3: 1 (just pruned, from zero) and 3 (back with its weight)
    assert method.masks["1.weight"].reshape(-1).tolist() == [T, T, F, T]
    w0, w1 = (p.detach().reshape(-1) for p in params.values())
    assert torch.equal(w0, torch.tensor([0.9, -0.8, 0.0, 0.0, 0.0, 0.6, 0.0, -0.5]))
    assert torch.equal(w1, torch.tensor([0.4, 0.0, 0.0, -0.2]))
    m0, m1 = (opt.state[p]["momentum_buffer"].reshape(-1) for p in params.values())
    assert m0.tolist() == [1, 1, 0, 0, 0, 1, 0, 1] and m1.tolist() == [1, 0, 0, 1]
    assert sum(int(m.sum()) for m in method.masks.values()) == kept_count(12, method.target(100))
    assert method.flips == [{"step": 100, "flip_ratio": 4 / 12}]


def test_uniform_distribution_prunes_each_layer_to_its_share(toy):
    # the same weights at t1 (sparsity 0.5), each layer pruned on its own: 4 of 8 and 2
    # of 4 kept; no death (within the last ΔT), so the masks are the pruned ones
    method = toy.method("granet", toy.ctx(sparsity=0.5, total_steps=400, milestones=(0.5, 0.75)),
                        update_every=300, distribution="uniform")
    model = two_layers()
    weights = [[0.9, -0.8, 0.05, 0.7, -0.02, 0.6, 0.01, -0.5], [0.4, -0.03, 0.3, -0.2]]
    params, opt = toy.install(method, model, weights, [[1.0] * 8, [1.0] * 4], masks=False)
    method.setup(model, None, None)
    assert method.drop_fraction(300) == 0.0  # 300 + ΔT > 400
    method.on_gradients(300, model)
    method.update(300, opt)
    assert uniform_counts([8, 4], 0.5) == [4, 2]
    assert method.masks["0.weight"].reshape(-1).tolist() == [T, T, F, T, F, T, F, F]
    assert method.masks["1.weight"].reshape(-1).tolist() == [T, F, T, F]


def test_sparse_start_is_a_random_erk_mask_at_the_initial_sparsity(toy):
    model = toy.model()
    method = toy.method("granet", toy.ctx(sparsity=0.9, total_steps=64), initial_sparsity=0.5)
    method.setup(model, toy.batch(0), None)
    shapes = [tuple(p.shape) for p in method._params.values()]
    assert [int(m.sum()) for m in method.masks.values()] == erk_counts(shapes, 0.5)
    assert method.target(method.t0) == 0.5


@pytest.mark.parametrize("initial_sparsity", [0.0, 0.5])
def test_training_reaches_the_target_and_keeps_it_while_regrowing(toy, initial_sparsity):
    # 64 steps, t1 = 48, ΔT = 8: the schedule prunes until 48, regrowth goes on to 56
    model = toy.model("small_cnn")
    method = toy.method("granet", toy.ctx(sparsity=0.8, total_steps=64), update_every=8,
                        initial_sparsity=initial_sparsity)
    seen = []
    toy.train(method, model, 64, after=lambda step: seen.append(
        sum(int(m.sum()) for m in method.masks.values())))
    total = sum(m.numel() for m in method.masks.values())
    assert [f["step"] for f in method.flips] == [8, 16, 24, 32, 40, 48, 56]
    assert seen[-1] == kept_count(total, 0.8)
    assert seen[55] == seen[47]  # after t1 the regrowth keeps the count
    assert all(f["flip_ratio"] > 0 for f in method.flips)
    assert "0.weight" in method.masks  # every conv and linear weight is pruned


def test_reads_the_dense_gradients():
    cls = METHODS.get("granet")
    assert cls.reads_gradients and cls.moves_mask and cls.mask_mode.name == "hard"
    assert cls.label == "GraNet"


def test_options_are_checked():
    assert "initial_sparsity" in GraNetOptions(initial_sparsity=1.0).validate()
    assert "update_every" in GraNetOptions(update_every=0).validate()
    assert "death_rate" in GraNetOptions(death_rate=1.0).validate()
    assert "death_rate" in GraNetOptions(death_rate=0.1, death_rate_min=0.2).validate()
    assert "stop" in GraNetOptions(stop=0.0).validate()
    assert "schedule_end" in GraNetOptions(schedule_start=0.5, schedule_end=0.4).validate()
    o = GraNetOptions()
    assert (o.initial_sparsity, o.initial_distribution, o.distribution, o.update_every) == (
        0.0, "erk", "global", 1000)
    assert (o.death_rate, o.death_rate_min, o.stop, o.schedule_start, o.schedule_end) == (
        0.5, 0.005, 1.0, 0.0, None)
    assert not (o.exclude_first_conv or o.exclude_last_linear or o.exclude_shortcuts)
