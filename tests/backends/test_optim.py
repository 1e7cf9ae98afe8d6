"""The recipe's update in a real training step: AdamW, gradient clipping and label
smoothing, each checked against the step computed by hand from the same gradients."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from small_specs import TWO_METHODS

from backends.optim import create_optimizer, training_loss
from backends.training import Trainer
from suite.grid import expand
from suite.recipes import TrainRecipe
from suite.spec import parse_spec


def trainer_for(tmp_path, method: str = "dense", **train) -> Trainer:
    """A built Trainer of a tiny MLP on synthetic data with ``train`` added to [train]."""
    extra = "\n".join(f"{k} = {v}" for k, v in train.items())
    text = TWO_METHODS.replace("batch_size = 64", f"batch_size = 64\n{extra}").replace(
        'method = ["dense", "dpf"]', f'method = ["{method}"]')
    (cell,) = expand(parse_spec(text))
    trainer = Trainer(cell, 0, tmp_path, torch.device("cpu"))
    trainer.build()
    trainer.setup_method()
    return trainer


def gradients(trainer: Trainer, x, y) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The weights before the step and the gradients of the training loss at them."""
    model = copy.deepcopy(trainer.model)
    model.train()
    trainer.loss_fn(model(x), y).backward()
    return ({n: p.detach().clone() for n, p in model.named_parameters()},
            {n: p.grad.clone() for n, p in model.named_parameters()})


def first_batch(trainer: Trainer):
    return next(iter(trainer.train_loader.epoch(0)))


def test_a_clipped_sgd_step_moves_by_the_clipped_gradient(tmp_path):
    t = trainer_for(tmp_path, momentum=0, weight_decay=0, lr=0.1, grad_clip=0.05)
    x, y = first_batch(t)
    before, grads = gradients(t, x, y)
    norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads.values()))
    assert norm > 0.05  # the clip is active
    t.model.train()
    t.train_step(x, y, 0)
    scale = 0.05 / (norm + 1e-6)
    moved = 0.0
    for n, p in t.model.named_parameters():
        torch.testing.assert_close(p.detach(), before[n] - 0.1 * scale * grads[n], rtol=0, atol=1e-6)
        moved += float(((p.detach() - before[n]).double() ** 2).sum())
    assert math.sqrt(moved) == pytest.approx(0.1 * 0.05, rel=1e-4)  # lr x the largest norm


def test_an_adamw_step_is_decoupled_decay_plus_the_normalized_gradient(tmp_path):
    t = trainer_for(tmp_path, optimizer='"adamw"', lr=0.01, weight_decay=0.1, betas="[0.8, 0.99]",
                    eps=1e-6)
    assert isinstance(t.optimizer, torch.optim.AdamW)
    group = t.optimizer.param_groups[0]
    assert (group["betas"], group["eps"], group["weight_decay"]) == ((0.8, 0.99), 1e-6, 0.1)
    x, y = first_batch(t)
    before, grads = gradients(t, x, y)
    t.model.train()
    t.train_step(x, y, 0)
    for n, p in t.model.named_parameters():
        # first step: bias-corrected moments are g and g^2, so the step is g / (|g| + eps)
        g = grads[n]
        want = before[n] * (1 - 0.01 * 0.1) - 0.01 * g / (g.abs() + 1e-6)
        torch.testing.assert_close(p.detach(), want, rtol=0, atol=1e-6)
    state = t.checkpoint_state()["optimizer"]["state"]
    assert {"step", "exp_avg", "exp_avg_sq"} <= set(state[0])  # checkpointed for the resume


def test_sgd_stays_the_old_optimizer():
    params = [torch.nn.Parameter(torch.ones(2))]
    opt = create_optimizer(params, TrainRecipe(lr=0.2, momentum=0.5, nesterov=True, weight_decay=0.01))
    assert type(opt) is torch.optim.SGD
    g = opt.param_groups[0]
    assert (g["lr"], g["momentum"], g["nesterov"], g["weight_decay"]) == (0.2, 0.5, True, 0.01)
    assert not create_optimizer(params, TrainRecipe(momentum=0.0)).param_groups[0]["nesterov"]


def test_label_smoothing_is_in_the_training_loss_only(tmp_path):
    # softmax([0, 0, ln 2]) = [1/4, 1/4, 1/2]; label 2: (1 - e) ln 2 + e (ln 4 + ln 4 + ln 2) / 3
    logits, y = torch.tensor([[0.0, 0.0, math.log(2.0)]]), torch.tensor([2])
    assert float(training_loss(logits, y, TrainRecipe(label_smoothing=0.3))) == pytest.approx(
        1.2 * math.log(2.0), abs=1e-6)
    assert float(training_loss(logits, y, TrainRecipe())) == pytest.approx(math.log(2.0), abs=1e-6)
    smooth = trainer_for(tmp_path / "a", label_smoothing=0.3)
    plain = trainer_for(tmp_path / "b")
    assert smooth.evaluate() == plain.evaluate()  # same initial model: the test loss is plain CE
    x, yb = first_batch(smooth)
    with torch.no_grad():
        out = smooth.model(x)
    assert float(smooth.loss_fn(out, yb)) == pytest.approx(
        float(training_loss(out, yb, TrainRecipe(label_smoothing=0.3))))
    assert float(smooth.loss_fn(out, yb)) != pytest.approx(float(plain.loss_fn(out, yb)))


@pytest.mark.parametrize("method", ["dpf", "snip"])
def test_dpf_and_hard_masks_clip_after_the_method_hook(tmp_path, method):
    """The norm that is clipped is that of the gradient the optimizer applies: after a
    hard mask (SNIP's) zeroed the pruned coordinates, or DPF's whole straight-through
    gradient, pruned coordinates included."""
    t = trainer_for(tmp_path, method=method, momentum=0, weight_decay=0, lr=0.1, grad_clip=0.01)
    if method == "dpf":  # its first mask comes after some steps: install one at 50% now
        t.method.set_masks(t.method.select(0.5), t.optimizer, 0)
    masks = {t.method._params[n]: m for n, m in t.method.masks.items()}
    assert masks and all(not bool(m.all()) for m in masks.values())
    x, y = first_batch(t)
    t.model.train()
    seen = {}
    real_step = t.optimizer.step

    def observed_step(*args, **kwargs):  # the real step, after looking at what it gets
        grads = [p.grad for p in t.model.parameters() if p.grad is not None]
        seen["norm"] = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
        seen["pruned"] = sum(int(torch.count_nonzero(p.grad[~m])) for p, m in masks.items())
        return real_step(*args, **kwargs)

    t.optimizer.step = observed_step
    t.train_step(x, y, 0)
    assert seen["norm"] == pytest.approx(0.01, rel=1e-4)
    assert (seen["pruned"] > 0) == (method == "dpf")


def test_hard_masks_clear_adamw_moments_of_pruned_weights(tmp_path):
    from methods.base import METHODS, MethodContext

    model = torch.nn.Linear(3, 2, bias=False)
    opt = create_optimizer(model.parameters(), TrainRecipe(optimizer="adamw", lr=0.1))
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    cls = METHODS.get("snip")
    method = cls(cls.Options(), MethodContext(0.5, 10, 5, 0, TrainRecipe()))
    method.bind(model)
    mask = torch.tensor([[True, False, True], [False, True, False]])
    method.set_masks({"weight": mask}, opt, 1)
    state = opt.state[model.weight]
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.all(state[key][~mask] == 0) and torch.all(state[key][mask] != 0)
