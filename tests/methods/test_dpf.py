"""DPF's defining behaviour: feedback (pruned weights keep training and come back), the
cubic schedule, m * w as the model that counts, and equivalence with a held hard mask."""

from __future__ import annotations

import copy

import pytest
import torch

from methods import Method
from methods.masks import kept_count
from methods.schedules import cubic_sparsity
from suite.errors import SpecError
from suite.options import NoOptions, parse_options


def record_masks(method):
    """An ``after`` hook collecting (step, masks) whenever the masks changed."""
    seen: list[tuple[int, dict[str, torch.Tensor]]] = []

    def after(step: int) -> None:
        if method.masks and (not seen or any(not torch.equal(method.masks[n], seen[-1][1][n])
                                             for n in method.masks)):
            seen.append((step, {n: m.clone() for n, m in method.masks.items()}))
    return seen, after


def sparsity_of(masks) -> float:
    return 1 - sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())


def test_global_masks_of_the_dense_weights_by_hand(toy):
    model = torch.nn.Sequential(torch.nn.Linear(2, 1, bias=False), torch.nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.9, 0.7]]))
        model[1].weight.copy_(torch.tensor([[0.2, -0.8, 0.05, 0.3]]))
    dpf = toy.method("dpf", toy.ctx(sparsity=0.5, total_steps=64), schedule_end=0.25)  # t1 = 16
    assert [t for t in range(1, 65) if dpf.due(t)] == [16, 32, 48, 64]
    params = dpf.bind(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    dpf.update(16, opt)
    # 6 weights, keep 3 by one threshold: 0.9, 0.8, 0.7 (a dense, b at 75%)
    assert dpf.masks["0.weight"].tolist() == [[True, True]]
    assert dpf.masks["1.weight"].tolist() == [[False, True, False, False]]
    assert torch.equal(params["1.weight"].detach(), torch.tensor([[0.2, -0.8, 0.05, 0.3]]))  # dense w
    with torch.no_grad():
        params["1.weight"][0, 2] = 1.5  # a pruned coordinate grew (the feedback)
    dpf.update(32, opt)
    # keep 1.5, 0.9, 0.8: the pruned weight is back, a's 0.7 is out (and kept in w)
    assert dpf.masks["0.weight"].tolist() == [[True, False]]
    assert dpf.masks["1.weight"].tolist() == [[False, True, True, False]]
    assert torch.equal(params["0.weight"].detach(), torch.tensor([[0.9, 0.7]]))


def test_masks_follow_the_cubic_schedule_and_keep_moving_after_it(toy):
    ctx = toy.ctx(sparsity=0.8, total_steps=96, milestones=(0.25, 0.5))  # t1 = second drop = 48
    model = toy.model()
    dpf = toy.method("dpf", ctx)
    seen, after = record_masks(dpf)
    toy.train(dpf, model, 96, after=after)
    n = sum(p.numel() for p in dpf.bind(model).values())
    assert [step for step, _ in seen][:3] == [16, 32, 48]
    for step, masks in seen:
        expected = cubic_sparsity(step, 0.8, begin=0, end=48)
        assert sum(int(m.sum()) for m in masks.values()) == kept_count(n, expected)
    # after t1 the mask is recomputed at the target and still flips (feedback continues)
    late = [f for f in dpf.flips if f["step"] > 48]
    assert [f["step"] for f in late] == [64, 80, 96]
    assert any(f["flip_ratio"] > 0 for f in late)


def test_pruned_coordinates_of_dense_weights_keep_changing(toy):
    ctx = toy.ctx(total_steps=64)
    model = toy.model()
    dpf = toy.method("dpf", ctx)
    opt = toy.train(dpf, model, 16)  # first mask after step 16
    masks = {n: m.clone() for n, m in dpf.masks.items()}
    before = {n: p.detach().clone() for n, p in dpf.bind(model).items()}
    toy.train(dpf, model, 8, start=16, optimizer=opt)  # no mask update in between
    for name, p in dpf.bind(model).items():
        pruned = ~masks[name]
        assert torch.equal(dpf.masks[name], masks[name])
        assert (p.detach()[pruned] != before[name][pruned]).float().mean() > 0.9
        assert (p.detach()[pruned] != 0).all()


def test_a_weight_pruned_early_comes_back(toy):
    ctx = toy.ctx(sparsity=0.9, total_steps=64)
    model = toy.model()
    dpf = toy.method("dpf", ctx, reprune_every=4)
    seen, after = record_masks(dpf)
    toy.train(dpf, model, 64, lr=0.1, after=after)
    returned = sum(int((~early[n] & late[n]).sum())
                   for i, (_, early) in enumerate(seen) for _, late in seen[i + 1:] for n in early)
    assert returned > 0


def test_evaluated_and_stored_model_is_mask_times_weights(toy):
    ctx = toy.ctx(total_steps=32)
    model = toy.model()
    dpf = toy.method("dpf", ctx)
    toy.train(dpf, model, 32)
    params = dpf.bind(model)
    dense = {n: p.detach().clone() for n, p in params.items()}
    assert all((dense[n][~m] != 0).any() for n, m in dpf.masks.items())
    reference = copy.deepcopy(model).eval()
    with torch.no_grad():
        for n, p in reference.named_parameters():
            if n in dpf.masks:
                p.mul_(dpf.masks[n])
    model.eval()
    x, _ = toy.batch(0, 64)
    with torch.no_grad(), dpf.masked(model):
        for n, p in params.items():
            assert torch.equal(p, dense[n] * dpf.masks[n])
        out = model(x)
    assert torch.equal(out, reference(x))
    assert all(torch.equal(p, dense[n]) for n, p in params.items())  # dense w is back
    dpf.finalize(model)
    assert all(torch.equal(p, dense[n] * dpf.masks[n]) for n, p in params.items())


class HeldMask(Method):
    """A hard mask, given from outside, installed after step ``at`` and never changed."""

    mask_mode = "hard"

    def __init__(self, ctx, masks, at):
        super().__init__(NoOptions(), ctx)
        self.held, self.at = masks, at

    def on_step(self, step, model, optimizer):
        if step == self.at:
            self.set_masks(self.held, optimizer, step)


def test_frozen_dpf_equals_training_with_that_mask_held_hard(toy):
    ctx = toy.ctx(sparsity=0.8, total_steps=64)
    model_a = toy.model(seed=3)
    model_b = copy.deepcopy(model_a)
    dpf = toy.method("dpf", ctx, schedule_end=0.25, freeze_at_end=True)  # t1 = 16 = first update
    seen, after = record_masks(dpf)
    toy.train(dpf, model_a, 64, after=after)
    assert [step for step, _ in seen] == [16] and dpf.flips == []
    assert sparsity_of(dpf.masks) == pytest.approx(0.8, abs=1e-4)
    held = HeldMask(ctx, {n: m.clone() for n, m in dpf.masks.items()}, at=16)
    toy.train(held, model_b, 64)
    dpf.finalize(model_a)
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_filter_structure_prunes_whole_rows(toy):
    ctx = toy.ctx(sparsity=0.5, total_steps=32)
    model = toy.model("small_cnn")
    dpf = toy.method("dpf", ctx, structure="filter", exclude_last_linear=True, scope="layer")
    toy.train(dpf, model, 32)
    assert "8.weight" not in dpf.masks  # the classifier is excluded
    for m in dpf.masks.values():
        rows = m.reshape(m.shape[0], -1)
        assert torch.equal(rows.all(1), rows.any(1))  # each filter fully kept or fully pruned
        assert int(rows.all(1).sum()) == kept_count(m.shape[0], 0.5)


def test_options_are_validated():
    from methods.dpf import DPFOptions

    with pytest.raises(SpecError, match="exclude_last_linear"):
        parse_options(DPFOptions, {"structure": "filter"}, "method.dpf")
    with pytest.raises(SpecError, match="reprune_every"):
        parse_options(DPFOptions, {"reprune_every": 0}, "method.dpf")
    with pytest.raises(SpecError, match="schedule_end"):
        parse_options(DPFOptions, {"schedule_start": 0.5, "schedule_end": 0.2}, "method.dpf")
    assert parse_options(DPFOptions, {"schedule_end": 1}, "method.dpf").schedule_end == 1.0


@pytest.mark.parametrize(("options", "steps"), [
    ({}, [16, 32, 48, 64]),                                          # t1 = 48 (second drop)
    ({"schedule_start": 0.25, "schedule_end": 0.6}, [16, 32, 38, 48, 64]),  # t0 = 16, t1 = 38
    ({"schedule_start": 0.25, "schedule_end": 0.6, "freeze_at_end": True}, [16, 32, 38]),
    ({"reprune_every": 20}, [20, 40, 48, 60]),                       # and exactly at t1
])
def test_when_masks_are_recomputed(toy, options, steps):
    dpf = toy.method("dpf", toy.ctx(total_steps=64), **options)
    assert [t for t in range(1, 65) if dpf.due(t)] == steps
