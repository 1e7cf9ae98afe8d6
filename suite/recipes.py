"""Training recipes: the typed ``[train]`` table, named presets, and the learning-rate curve.

Schedules are given as fractions of training (warm-up length, decay milestones) and
turned into steps in exactly one place, :func:`lr_at`, so that a recipe means the same
thing at any epoch count. Every field's default is the behaviour from before the field
existed, so a recipe that does not set it keeps its cell id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TrainRecipe:
    """The recipe shared by the cells of a spec (``[train]``), after presets and overrides.

    ``warmup`` is the fraction of all steps spent ramping the learning rate linearly up
    to its peak. ``schedule`` says what follows (:func:`lr_at`): ``"step"`` multiplies
    it by ``gamma`` at each of the ``milestones`` (fractions of all steps), ``"cosine"``
    and ``"linear"`` decay it from the peak to 0 at the end of training; milestones and
    gamma apply to ``"step"`` only. ``lr_scaling = "linear"`` multiplies ``lr`` by
    ``batch_size / 256`` (Goyal et al.), so the rule is explicit rather than tied to the
    number of devices.

    ``optimizer``: ``"sgd"`` (``momentum``, ``nesterov``, L2 ``weight_decay`` added to
    the gradient) or ``"adamw"`` (``torch.optim.AdamW``: ``betas``, ``eps`` and a
    decoupled ``weight_decay``). Momentum and nesterov apply to SGD only, betas and eps
    to AdamW only.

    ``label_smoothing``: cross-entropy label smoothing of the training loss (and of the
    loss SNIP scores its batch with); evaluation losses (test and validation) are the
    plain cross-entropy. ``grad_clip``: the largest global L2 norm of the gradients
    that the optimizer step gets (0: no clipping; see :mod:`backends.optim` for where).
    ``val_fraction``: the fraction of the training split held out as a validation set
    (:mod:`suite.data.holdout`), never trained on, evaluated at every epoch's end.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    warmup: float = 0.0
    milestones: tuple[float, ...] = (0.5, 0.75)
    gamma: float = 0.1
    lr_scaling: Literal["none", "linear"] = "none"
    schedule: Literal["step", "cosine", "linear"] = "step"
    optimizer: Literal["sgd", "adamw"] = "sgd"
    betas: tuple[float, ...] = (0.9, 0.999)
    eps: float = 1e-8
    label_smoothing: float = 0.0
    grad_clip: float = 0.0
    val_fraction: float = 0.0

    def validate(self) -> str | None:
        """An error message when the values make no sense together, else None."""
        if self.epochs <= 0:
            return f"epochs = {self.epochs} must be a positive integer"
        if self.batch_size <= 0:
            return f"batch_size = {self.batch_size} must be a positive integer"
        if self.lr <= 0:
            return f"lr = {self.lr} must be positive"
        if not 0.0 <= self.momentum < 1.0:
            return f"momentum = {self.momentum} must lie in [0, 1)"
        if self.weight_decay < 0:
            return f"weight_decay = {self.weight_decay} must be >= 0"
        if not 0.0 <= self.warmup < 1.0:
            return f"warmup = {self.warmup} is a fraction of training and must lie in [0, 1)"
        if any(not 0.0 < m < 1.0 for m in self.milestones):
            return f"milestones = {list(self.milestones)} are fractions of training, each in (0, 1)"
        if list(self.milestones) != sorted(self.milestones):
            return f"milestones = {list(self.milestones)} must be increasing"
        if not 0.0 < self.gamma <= 1.0:
            return f"gamma = {self.gamma} must lie in (0, 1]"
        if len(self.betas) != 2 or any(not 0.0 <= b < 1.0 for b in self.betas):
            return (f"betas = {list(self.betas)} must be two numbers, each in [0, 1) "
                    "(AdamW's decay rates of the first and second moments)")
        if self.eps <= 0:
            return f"eps = {self.eps} must be positive"
        if not 0.0 <= self.label_smoothing < 1.0:
            return f"label_smoothing = {self.label_smoothing} must lie in [0, 1)"
        if self.grad_clip < 0:
            return f"grad_clip = {self.grad_clip} must be >= 0 (0: no clipping)"
        if not 0.0 <= self.val_fraction < 1.0:
            return (f"val_fraction = {self.val_fraction} is a fraction of the training split "
                    "and must lie in [0, 1) (0: no validation set)")
        return None

    @property
    def peak_lr(self) -> float:
        """The learning rate after warm-up, with the scaling rule applied."""
        scale = self.batch_size / 256 if self.lr_scaling == "linear" else 1.0
        return self.lr * scale


#: Named presets for the DPF paper's schedules; a spec picks one with
#: ``recipe = "name"`` and may override any field next to it.
PRESETS: dict[str, dict[str, object]] = {
    # ResNet-a on CIFAR: 300 epochs, lr / 10 at 50% and 75%, 5-epoch warm-up.
    "resnet_cifar": {
        "epochs": 300, "batch_size": 128, "lr": 0.1, "weight_decay": 1e-4,
        "warmup": 5 / 300, "milestones": (0.5, 0.75), "gamma": 0.1,
    },
    # WideResNet-28-k on CIFAR: 200 epochs, lr / 5 at 30%, 60%, 80%, 5-epoch warm-up.
    "wrn_cifar": {
        "epochs": 200, "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4,
        "warmup": 5 / 200, "milestones": (0.3, 0.6, 0.8), "gamma": 0.2,
    },
    # ImageNet ResNet-50, Goyal et al.: lr 0.1 x batch/256, 5-epoch warm-up, / 10 at 30, 60, 80.
    "imagenet_goyal": {
        "epochs": 90, "batch_size": 1024, "lr": 0.1, "lr_scaling": "linear",
        "weight_decay": 1e-4, "warmup": 5 / 90, "milestones": (30 / 90, 60 / 90, 80 / 90),
        "gamma": 0.1,
    },
}


def lr_at(recipe: TrainRecipe, step: int, total_steps: int) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    With ``W = round(warmup * total_steps)`` warm-up steps, step ``s < W`` gets
    ``peak * (s + 1) / W``. After it, with ``T = total_steps`` and the progress
    ``p = (s - W) / (T - W)`` (0 at the first step after warm-up):

    - ``step``: ``peak * gamma ** k``, ``k`` the number of milestones ``m`` with
      ``s >= round(m * T)``;
    - ``cosine``: ``peak * (1 + cos(pi * p)) / 2``;
    - ``linear``: ``peak * (1 - p)``.

    Both decays reach 0 at ``s = T``, the end of training, just after the last step,
    so that no step is taken with a learning rate of 0 (the last one has
    ``p = (T - 1 - W) / (T - W)``).
    """
    peak = recipe.peak_lr
    warmup_steps = int(round(recipe.warmup * total_steps))
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    if recipe.schedule == "step":
        drops = sum(1 for m in recipe.milestones if step >= int(round(m * total_steps)))
        return peak * recipe.gamma**drops
    progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
    if recipe.schedule == "cosine":
        return peak * 0.5 * (1.0 + math.cos(math.pi * progress))
    return peak * (1.0 - progress)


def milestone_steps(recipe: TrainRecipe, total_steps: int) -> list[int]:
    """The steps at which a ``"step"`` schedule decays (same rounding as :func:`lr_at`)."""
    return [int(round(m * total_steps)) for m in recipe.milestones]
