"""What a recipe says about the update itself: the optimizer, the training loss and
gradient clipping, shared by every backend so that a field has one meaning everywhere.

Where clipping acts, in the order of a step (:meth:`backends.training.Trainer.train_step`)::

    forward (under autocast for bf16) -> loss -> backward
    method.before_optimizer_step      # hard masks zero pruned gradients; DPF restores dense w
    clip_gradients                    # here
    optimizer.step

- After the method's hook, so that the norm is that of the gradient the optimizer
  applies: with hard masks the pruned coordinates, which get no update, take no share
  of the norm; with DPF's feedback masks the gradient taken at ``m * w`` goes to the
  dense ``w`` whole, pruned coordinates included, and is clipped whole; sparse
  momentum leaves its gradients dense (they feed the momentum of missing weights),
  so all of them count.
- On the fp32 gradients: bf16 autocast covers the forward pass and the loss only, the
  weights and their gradients stay fp32, so the norm is computed in fp32 (on
  DeepSpeed with fp16, after the loss scale is taken out).
- Before the optimizer, so SGD's momentum and weight decay and AdamW's moments see the
  clipped gradient (weight decay itself is not clipped).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

from suite.recipes import TrainRecipe


def create_optimizer(params: Iterable[torch.nn.Parameter], recipe: TrainRecipe) -> torch.optim.Optimizer:
    """The recipe's optimizer at its peak learning rate (the loop sets the lr of each step).

    ``sgd``: ``torch.optim.SGD`` with ``momentum``, ``nesterov`` (only with a momentum
    above 0) and ``weight_decay`` (L2, added to the gradient). ``adamw``:
    ``torch.optim.AdamW`` with ``betas``, ``eps`` and ``weight_decay`` (decoupled: the
    weights shrink by ``lr * weight_decay`` each step, apart from the gradient step).
    """
    if recipe.optimizer == "adamw":
        beta1, beta2 = recipe.betas
        return torch.optim.AdamW(params, lr=recipe.peak_lr, betas=(beta1, beta2), eps=recipe.eps,
                                 weight_decay=recipe.weight_decay)
    return torch.optim.SGD(params, lr=recipe.peak_lr, momentum=recipe.momentum,
                           nesterov=recipe.nesterov and recipe.momentum > 0,
                           weight_decay=recipe.weight_decay)


def training_loss(logits: torch.Tensor, y: torch.Tensor, recipe: TrainRecipe) -> torch.Tensor:
    """The mean training loss: cross-entropy with the recipe's ``label_smoothing`` (the
    target puts ``1 - e`` on the label and ``e / classes`` on every class). Evaluation
    uses the plain cross-entropy."""
    return F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)


def clip_gradients(params: Iterable[torch.nn.Parameter], recipe: TrainRecipe) -> torch.Tensor | None:
    """Scale the gradients of ``params`` so that their global L2 norm is at most
    ``grad_clip`` (``torch.nn.utils.clip_grad_norm_``: by ``grad_clip / (norm + 1e-6)``
    when that is below 1); returns the norm before clipping, or None when clipping is
    off (``grad_clip = 0``)."""
    if not recipe.grad_clip:
        return None
    return torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)


def weight_state_keys(recipe: TrainRecipe) -> tuple[str, ...]:
    """The state the recipe's optimizer keeps per weight, shaped like it: SGD's momentum
    (none without momentum), AdamW's two moments."""
    if recipe.optimizer == "adamw":
        return ("exp_avg", "exp_avg_sq")
    return ("momentum_buffer",) if recipe.momentum > 0 else ()


def initial_state(recipe: TrainRecipe, like: torch.Tensor) -> dict[str, torch.Tensor]:
    """The state the recipe's optimizer would create at the first step of a weight like
    ``like``: zeros (and AdamW's step count 0). Created before that step it gives the
    same step, so that it can exist early (DeepSpeed links its slices to the masks)."""
    state = {key: torch.zeros_like(like) for key in weight_state_keys(recipe)}
    if recipe.optimizer == "adamw":
        state["step"] = torch.tensor(0.0, dtype=torch.float32)
    return state
