"""GraNet, gradual pruning with zero-cost neuroregeneration (Liu, Chen, Chen, Atashgahi,
Yin, Kou, Shen, Pechenizkiy, Wang, Mocanu; NeurIPS 2021, "Sparse Training via Boosting
Pruning Plasticity with Neuroregeneration").

Gradual magnitude pruning along Zhu & Gupta's cubic schedule, from an initial sparsity
``s_i`` (0: dense; above 0: a random ERK mask, sparse-to-sparse) to the target, with
neuroregeneration at each update: every ΔT steps the weights are first pruned by
magnitude to the schedule's sparsity (one ranking over all layers), then each layer
drops the fraction ``r(t)`` of its remaining weights with the smallest magnitude and
grows as many back where the magnitude of the dense gradient is largest (the gradient
of the update step's mini-batch: no extra cost). ``r(t) = r_min + (r - r_min) / 2 *
(1 + cos(pi t / T))`` decays over the whole training. Grown weights start at zero.
After the schedule ends the sparsity stays at the target and the neuroregeneration
goes on. A subclass of RigL: the same per-layer drop by ``|w|`` and growth by
``|gradient|``, with the pruning step in front of the drop and another schedule.

Against the paper and its reference code (VITA-Group/GraNet, ``sparselearning/core.py``):

- the cubic schedule from ``s_i = 0`` (the paper's dense-to-sparse GraNet; ``s_i = 0.5``
  is its sparse-to-sparse one, from a random ERK mask: ``initial_distribution``): as the
  paper; magnitude pruning with one threshold over all prunable layers
  (``distribution = "global"``): as the paper;
- ΔT = 1000 steps: as the paper's CIFAR runs (4000 on ImageNet);
- t0 = 0: as the paper; t1 = the second learning-rate drop: a choice, because the
  paper ends at 110 of 160 epochs on CIFAR (30 of 100 on ImageNet), and incremental
  and DPF prune over the same window here, so the three differ only by what they add;
  updates at t0 + ΔT, t0 + 2ΔT, ... and at t1 itself (the reference updates at
  multiples of ΔT only): a choice, as incremental, so the target is met at t1;
- the death rate 0.5, cosine-decayed over the whole training to 0.005: as the
  reference (``CosineDecay``: ``T_max`` = all steps, ``eta_min`` = 0.005);
- per layer, ``ceil(r n)`` of the ``n`` weights left by the pruning step dropped by
  ``|w|``, as many grown in that layer by ``|gradient|``: as the reference; ties
  broken by position (a choice);
- growth chooses among every position inactive after the drop: a weight just dropped
  can come straight back and keeps its value and momentum, one just pruned by the
  schedule restarts at zero with zero momentum, as any other grown weight: as the
  reference;
- the gradient is the update step's, read before the optimizer step masks it: as the
  reference, which reads ``.grad`` at the update;
- neuroregeneration at every update from t0 to the end of training (``stop = 1``): as
  the reference; none within the last ΔT, where an update (t1) only prunes: a choice,
  because a grown weight still at zero would count as pruned in the measured sparsity;
- every conv and linear weight is pruned, first conv and classifier included: as the
  reference's default (its ``--rm-first`` off). The target holds over those layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from methods.base import METHODS
from methods.distributions import Distribution, distribution_masks, random_distribution_masks
from methods.magnitude import check_window
from methods.mask_modes import WEIGHT_STATE
from methods.masks import topk_masks
from methods.rigl import RigL
from methods.schedules import cosine_decay, cubic_sparsity, every, resolve_window
from methods.updater import LayerOptions


@dataclass(frozen=True)
class GraNetOptions(LayerOptions):
    """``[method.granet]``.

    - ``initial_sparsity`` (0.0, as the paper's dense-to-sparse GraNet; 0.5 its
      sparse-to-sparse one): s_i, the sparsity of the start and of the schedule's start.
    - ``initial_distribution`` ("erk", as the reference): how a sparse start's random
      mask is spread over the layers ("uniform", "er", "global" the alternatives).
    - ``distribution`` ("global", as the paper): the pruning step's sparsity
      distribution ("uniform", "erk", "er": each layer pruned to its share).
    - ``update_every`` (1000 steps, as the paper's CIFAR runs): ΔT, the steps between updates.
    - ``schedule_start`` (0.0, as the paper) / ``schedule_end`` (None = the second
      learning-rate drop, a choice: the window of incremental and DPF).
    - ``death_rate`` (0.5, as the paper): r, the fraction of each layer's weights dropped
      and regrown, cosine-decayed over training to ``death_rate_min`` (0.005, as the reference).
    - ``stop`` (1.0, as the reference): the fraction of training after which the
      neuroregeneration stops (RigL's T_end); the pruning schedule is not affected.
    - ``exclude_first_conv`` / ``exclude_last_linear`` / ``exclude_shortcuts`` (False).
    """

    initial_sparsity: float = 0.0
    initial_distribution: Distribution = "erk"
    distribution: Distribution = "global"
    update_every: int = 1000
    schedule_start: float = 0.0
    schedule_end: float | None = None
    death_rate: float = 0.5
    death_rate_min: float = 0.005
    stop: float = 1.0

    def validate(self) -> str | None:
        if not 0.0 <= self.initial_sparsity < 1.0:
            return f"initial_sparsity = {self.initial_sparsity} must lie in [0, 1)"
        if self.update_every < 1:
            return f"update_every = {self.update_every} must be a positive number of steps"
        if not 0.0 <= self.death_rate_min <= self.death_rate < 1.0:
            return (f"death_rate = {self.death_rate} and death_rate_min = {self.death_rate_min} "
                    "must satisfy 0 <= death_rate_min <= death_rate < 1")
        if not 0.0 < self.stop <= 1.0:
            return f"stop = {self.stop} is a fraction of training and must lie in (0, 1]"
        return check_window(self.schedule_start, self.schedule_end)


@METHODS.register("granet")
class GraNet(RigL):
    """GraNet (Liu et al., NeurIPS 2021): gradual magnitude pruning with neuroregeneration by gradient."""

    name = "granet"
    label = "GraNet"
    Options = GraNetOptions
    mask_mode = "hard"

    def __init__(self, options: Any, ctx: Any) -> None:
        super().__init__(options, ctx)
        t0, t1 = resolve_window(options.schedule_start, options.schedule_end, ctx.recipe,
                                ctx.total_steps)
        self.t0, self.t1 = t0, max(t1, 1)  # the first update can come after step 1 at the earliest
        self._regrow: list[int] = []

    def initial_masks(self, model, batch, loss_fn) -> dict[str, torch.Tensor]:
        """Dense (all kept) for ``s_i = 0``, else a random mask at ``s_i``."""
        o = self.options
        if o.initial_sparsity == 0.0:
            return {n: torch.ones_like(p, dtype=torch.bool) for n, p in self._params.items()}
        shapes = {n: p.shape for n, p in self._params.items()}
        masks = random_distribution_masks(shapes, o.initial_sparsity, o.initial_distribution,
                                          self.generator(0))
        return {n: m.to(self._params[n].device) for n, m in masks.items()}

    def target(self, step: int) -> float:
        """The sparsity the pruning step of an update after step ``step`` prunes to."""
        return cubic_sparsity(step, self.ctx.sparsity, begin=self.t0, end=self.t1,
                              initial=self.options.initial_sparsity)

    def regenerates(self, step: int) -> bool:
        """Whether an update after step ``step`` drops and regrows (not within the last ΔT)."""
        return step <= self.t_end and step + self.options.update_every <= self.ctx.total_steps

    def due(self, step: int) -> bool:
        if step < self.t0:
            return False
        return step == self.t1 or (every(step, self.options.update_every, begin=self.t0)
                                   and (step <= self.t1 or self.regenerates(step)))

    def drop_fraction(self, step: int) -> float:
        """The death rate ``r(t)``, cosine-decayed over training (0 where no regeneration)."""
        if not self.regenerates(step):
            return 0.0
        o = self.options
        return cosine_decay(step, self.ctx.total_steps, o.death_rate, o.death_rate_min)

    @torch.no_grad()
    def drop(self, step, optimizer) -> dict[str, torch.Tensor]:
        """Prune to :meth:`target` by magnitude (the pruned weights and their optimizer
        state set to zero), then drop ``ceil(r n)`` more of each layer's ``n`` by ``|w|``."""
        scores = {n: torch.where(m, self._params[n].detach().abs(), -1.0) for n, m in self.masks.items()}
        pruned = distribution_masks(scores, self.target(step), self.options.distribution)
        for name, mask in pruned.items():
            off = self.masks[name] & ~mask
            param = self._params[name]
            param.masked_fill_(off, 0.0)
            state = optimizer.state.get(param, {})
            for key in WEIGHT_STATE:
                if state.get(key) is not None:
                    state[key].masked_fill_(off, 0.0)
        fraction, kept, self._regrow = self.drop_fraction(step), {}, []
        for name, mask in pruned.items():
            alive = int(mask.count_nonzero())
            death = math.ceil(fraction * alive)
            kept[name] = topk_masks({name: torch.where(mask, scores[name], -1.0)}, alive - death)[name]
            self._regrow.append(death)
        return kept

    def grow_counts(self, removed, kept, free, optimizer) -> list[int]:
        """Each layer grows back what the death step dropped in it (not what the pruning did)."""
        return list(self._regrow)
