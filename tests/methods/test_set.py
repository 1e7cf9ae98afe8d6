"""SET: per-sign removal of the weights nearest zero, per-layer random regrowth at zero,
after every epoch, from an Erdős–Rényi start; each rule by hand on a few weights."""

from __future__ import annotations

import textwrap

import torch
from torch import nn

from methods.distributions import er_counts
from methods.sparse_evolutionary import SETOptions, drop_near_zero
from suite.grid import expand
from suite.spec import parse_spec

T, F = True, False


def test_drop_near_zero_by_hand():
    w = torch.tensor([0.5, -0.2, 0.1, -0.6, 0.3, -0.05])
    # zeta 0.5: floor(1.5) = 1 of the positives (0.1) and 1 of the negatives (-0.05)
    assert drop_near_zero(torch.ones(6, dtype=torch.bool), w, 0.5).tolist() == [T, T, F, T, T, F]
    # an active zero is the smallest positive; floor(0.3 * 3) = 0 negatives go; the
    # inactive position 6 stays out
    w = torch.tensor([0.4, 0.0, -0.3, 0.2, -0.1, 0.7, 0.0, -0.5])
    mask = torch.tensor([T, T, T, T, T, T, F, T])
    assert drop_near_zero(mask, w, 0.3).tolist() == [T, F, T, T, T, T, F, T]
    # equal magnitudes: the later position goes
    assert drop_near_zero(torch.ones(3, dtype=torch.bool), torch.tensor([0.2, -1.0, 0.2]),
                          0.5).tolist() == [T, T, F]


def two_layers() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 2, bias=False), nn.Linear(2, 2, bias=False))


def test_one_evolution_by_hand(toy):
    ctx = toy.ctx(sparsity=0.25, total_steps=64)
    method = toy.method("set", ctx, zeta=0.5)
    model = two_layers()
    params, opt = toy.install(method, model, [[0.5, -0.2, 0.1, 0.0, -0.6, 0.3, -0.05, 0.0],
                                              [0.3, -0.4, 0.2, -0.1]])
    method.update(16, opt)
    # layer 0 drops 0.1 (index 2) and -0.05 (6), keeps 0, 1, 4, 5 and grows 2 of the free
    # 2, 3, 6, 7 where this update's draws are largest; layer 1 is full, so it drops 0.2
    # and -0.1 (2, 3) and must grow exactly those back, at zero and with zero momentum
    generator = method.generator(16)
    draw = torch.rand(8, generator=generator)
    kept0 = torch.tensor([T, T, F, F, T, T, F, F])
    grown0 = torch.zeros(8, dtype=torch.bool)
    grown0[torch.where(kept0, -2.0, draw).topk(2).indices] = True
    assert method.masks["0.weight"].reshape(-1).tolist() == (kept0 | grown0).tolist()
    assert method.masks["1.weight"].reshape(-1).tolist() == [T, T, T, T]
    w0, w1 = (p.detach().reshape(-1) for p in params.values())
    assert torch.equal(w0, torch.tensor([0.5, -0.2, 0.0, 0.0, -0.6, 0.3, 0.0, 0.0]))
    assert torch.equal(w1, torch.tensor([0.3, -0.4, 0.0, 0.0]))
    m0, m1 = (opt.state[p]["momentum_buffer"].reshape(-1) for p in params.values())
    assert m0.tolist() == [1, 1, 0, 0, 1, 1, 0, 0] and m1.tolist() == [1, 1, 0, 0]
    before = torch.tensor([T, T, T, F, T, T, T, F])
    assert method.flips == [{"step": 16, "flip_ratio": int((before ^ (kept0 | grown0)).sum()) / 12}]


def test_grow_init_random_draws_grown_weights_on_the_layers_initial_scale(toy):
    ctx = toy.ctx(sparsity=0.25, total_steps=64)
    method = toy.method("set", ctx, zeta=0.5, grow_init="random")
    model = two_layers()
    params, opt = toy.install(method, model, [[0.5, -0.2, 0.1, 0.0, -0.6, 0.3, -0.05, 0.0],
                                              [0.3, -0.4, 0.2, -0.1]])
    method.init_std = {"0.weight": 0.5, "1.weight": 2.0}
    method.update(16, opt)
    # the same drops and growth as with zero init (the scores come first from the
    # generator); each layer's grown weights then take its next draws, N(0, 1) * sigma
    generator = method.generator(16)
    draw0 = torch.rand(8, generator=generator)
    init0 = torch.randn(8, generator=generator) * 0.5
    torch.rand(4, generator=generator)
    init1 = torch.randn(4, generator=generator) * 2.0
    kept0 = torch.tensor([T, T, F, F, T, T, F, F])
    grown0 = torch.zeros(8, dtype=torch.bool)
    grown0[torch.where(kept0, -2.0, draw0).topk(2).indices] = True
    assert method.masks["0.weight"].reshape(-1).tolist() == (kept0 | grown0).tolist()
    w0, w1 = (p.detach().reshape(-1) for p in params.values())
    expected0 = torch.tensor([0.5, -0.2, 0.0, 0.0, -0.6, 0.3, 0.0, 0.0])
    assert torch.equal(w0, torch.where(grown0, init0, expected0))
    # layer 1 drops 0.2 and -0.1 and grows them back: they restart at random too
    assert torch.equal(w1, torch.tensor([0.3, -0.4, float(init1[2]), float(init1[3])]))
    m0, m1 = (opt.state[p]["momentum_buffer"].reshape(-1) for p in params.values())
    assert m0.tolist() == [1, 1, 0, 0, 1, 1, 0, 0] and m1.tolist() == [1, 1, 0, 0]


def test_grow_init_random_records_the_initial_scale_and_keeps_it_in_checkpoints(toy):
    ctx = toy.ctx(sparsity=0.8, total_steps=64)
    model = toy.model()
    stds = {n: float(p.detach().std()) for n, p in model.named_parameters() if n.endswith("weight")}
    method = toy.method("set", ctx, grow_init="random")
    toy.train(method, model, 32)
    assert method.init_std == {n: stds[n] for n in method.masks}
    assert method.extra_state() == {"init_std": method.init_std}
    fresh = toy.method("set", ctx, grow_init="random")
    fresh.load_extra_state(method.extra_state())
    assert fresh.init_std == method.init_std
    assert toy.method("set", ctx).extra_state() == {}  # zero init keeps nothing


def test_default_cell_id_is_unchanged_by_grow_init():
    """Regression: the id of a default SET cell before ``grow_init`` existed."""
    spec = textwrap.dedent("""
        [suite]
        seeds = [0]
        [grid]
        method = ["set"]
        model = ["mlp"]
        dataset = ["synthetic"]
        sparsity = [0.9]
    """)
    tables = ("", '[method.set]\ngrow_init = "zero"\n', '[method.set]\ngrow_init = "random"\n')
    ids = [c.id for extra in tables for c in expand(parse_spec(spec + extra))]
    assert ids[:2] == ["67ac96f4b3d0", "67ac96f4b3d0"]
    assert ids[2] != ids[0]


def test_er_start_and_an_evolution_after_every_epoch_but_the_last(toy):
    ctx = toy.ctx(sparsity=0.8, total_steps=64, steps_per_epoch=16)
    model = toy.model()
    method = toy.method("set", ctx)
    toy.train(method, model, 64)
    shapes = [tuple(p.shape) for p in method._params.values()]
    counts = [int(m.sum()) for m in method.masks.values()]
    assert counts == er_counts(shapes, 0.8)  # every layer keeps its ER count throughout
    assert [f["step"] for f in method.flips] == [16, 32, 48]
    every8 = toy.method("set", ctx, rewire_every=8)
    toy.train(every8, toy.model(), 64)
    assert [f["step"] for f in every8.flips] == [8, 16, 24, 32, 40, 48, 56]


def test_options_are_checked():
    assert "zeta" in SETOptions(zeta=1.0).validate()
    assert "rewire_every" in SETOptions(rewire_every=-1).validate()
    assert SETOptions().distribution == "er" and SETOptions().zeta == 0.3
    assert SETOptions().grow_init == "zero"
