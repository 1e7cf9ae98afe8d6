"""RigL, rigging the lottery (Evci, Gale, Menick, Castro, Elsen; ICML 2020).

Sparse from the start: an ERK random mask at the target density. Every ``update_every``
steps (ΔT) until ``stop`` of training (T_end), each layer drops the fraction
``f(t) = alpha / 2 * (1 + cos(pi t / T_end))`` of its active weights with the smallest
magnitude and grows as many where the magnitude of the dense gradient (the gradient of
the loss at ``w * m`` for every position, active or not) is largest. Grown weights start
at zero. Each layer keeps its number of connections, so the ERK distribution holds; the
mask is fixed after T_end. A subclass of SET: the same per-layer drop and grow, with
other scores and another schedule.

Against the paper and its reference code (google-research/rigl, ``SparseRigLOptimizer``):

- ERK initial distribution (``distribution = "erk"``), ΔT = 100, alpha = 0.3, T_end =
  75% of training, the cosine decay of the drop fraction: as the paper;
- the drop count ``floor(f(t) * n)`` of each layer's ``n`` active weights, drop by
  ``|w|`` and growth by ``|gradient|`` per layer: as the reference; ties are broken by
  position, a choice where the reference adds noise of scale 1e-5 to the drop scores;
- growth chooses among every position inactive after the drop, so a weight just
  dropped can come straight back; it then keeps its value and momentum, as the
  reference (``reinit_when_same = False``); every other grown weight starts at zero with
  zero momentum: as the reference;
- the gradient is the one of the update step's mini-batch, read before the optimizer
  step masks it: as the reference, which however skips that step's weight update to
  update the mask instead; here the optimizer step is taken and the mask updated after
  it (a choice, because the hooks run after every step; it is one step in ΔT);
- updates at steps ΔT, 2ΔT, ... up to T_end (none at step 0, before any training, where
  the reference makes one: a choice, because the hooks start after the first step) and
  none within the last ΔT of training (so grown weights are always trained);
- the first conv stays dense (``exclude_first_conv = true``) and the classifier is
  sparse: as the reference (its CIFAR flags ``prune_first_layer = False``,
  ``prune_last_layer = True``; its ImageNet ResNet-50 keeps the first layer unmasked).
  The target sparsity holds over the layers RigL prunes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from methods.base import METHODS
from methods.dropgrow import DropGrowOptions, InitialDistribution
from methods.masks import topk_masks
from methods.schedules import cosine_decay, fraction_step
from methods.sparse_evolutionary import SET


@dataclass(frozen=True)
class RigLOptions(DropGrowOptions):
    """``[method.rigl]``.

    - ``update_every`` (100 steps, as the paper): ΔT, the steps between mask updates.
    - ``alpha`` (0.3, as the paper): the drop fraction at the start, cosine-decayed.
    - ``stop`` (0.75, as the paper): T_end, the fraction of training after which the mask
      stays fixed.
    - ``distribution`` ("erk", as the paper; "er", "uniform", "global" the alternatives).
    - ``exclude_first_conv`` (true, as the reference), ``exclude_last_linear`` (false, as
      the reference), ``exclude_shortcuts`` (false).
    """

    distribution: InitialDistribution = "erk"
    exclude_first_conv: bool = True
    update_every: int = 100
    alpha: float = 0.3
    stop: float = 0.75

    def validate(self) -> str | None:
        if self.update_every < 1:
            return f"update_every = {self.update_every} must be a positive number of steps"
        if not 0.0 < self.alpha < 1.0:
            return f"alpha = {self.alpha} must lie in (0, 1)"
        if not 0.0 < self.stop <= 1.0:
            return f"stop = {self.stop} is a fraction of training and must lie in (0, 1]"
        return None


@METHODS.register("rigl")
class RigL(SET):
    """RigL (Evci et al., ICML 2020): drop by magnitude, grow by dense gradient, every ΔT steps."""

    name = "rigl"
    label = "RigL"
    Options = RigLOptions
    regrown_keep_value = True
    reads_gradients = True

    def __init__(self, options: Any, ctx: Any) -> None:
        super().__init__(options, ctx)
        self.t_end = fraction_step(options.stop, ctx.total_steps)
        self._gradients: dict[str, torch.Tensor] = {}

    def due(self, step: int) -> bool:
        period = self.options.update_every
        return step % period == 0 and step <= self.t_end and step + period <= self.ctx.total_steps

    def on_epoch_end(self, epoch: int, model, optimizer) -> None:
        """No epoch-end evolution: updates follow :meth:`due`."""

    def drop_fraction(self, step: int) -> float:
        """``alpha / 2 * (1 + cos(pi * step / T_end))``."""
        return cosine_decay(step, self.t_end, self.options.alpha)

    @torch.no_grad()
    def on_gradients(self, step: int, model) -> None:
        if self.due(step):  # keep |dense gradient| of the step that updates the masks
            self._gradients = {n: (p.grad.detach().abs() if p.grad is not None else torch.zeros_like(p))
                               for n, p in self._params.items()}

    def drop(self, step, optimizer) -> dict[str, torch.Tensor]:
        fraction, out = self.drop_fraction(step), {}
        for name, mask in self.masks.items():
            alive = int(mask.count_nonzero())
            scores = torch.where(mask, self._params[name].detach().abs(), -1.0)
            out[name] = topk_masks({name: scores}, alive - math.floor(fraction * alive))[name]
        return out

    def grow_scores(self, name, generator, optimizer) -> torch.Tensor:
        """``|gradient|`` kept by :meth:`on_gradients` (the current ``.grad`` if none was)."""
        kept = self._gradients.pop(name, None)
        if kept is not None:
            return kept
        grad = self._params[name].grad
        return grad.detach().abs() if grad is not None else torch.zeros_like(self._params[name])
