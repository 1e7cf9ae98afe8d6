"""Sparse momentum, SM (Dettmers & Zettlemoyer 2019, "Sparse Networks from Scratch").

A random mask at the target density; at the end of every epoch but the last, each
layer loses the ``prune_rate`` fraction (0.5, cosine-decayed to a floor of 0.005 over
training) of its active weights with the smallest magnitude, rounded up; the same
total is regrown, shared across layers in proportion to the mean ``|momentum|`` of
each layer's active weights, at the free positions with the largest ``|momentum|``
(dropped positions included). Regrown weights start at zero.

Gradients are not masked, so the momentum buffer (``optimizer.state[p]
["momentum_buffer"]``) also measures the missing weights, and installing a mask
leaves it alone; the weights themselves are re-zeroed after every step, which keeps
the mask hard. Without a momentum buffer the gradient is used. With the AdamW
optimizer the momentum is its first moment, ``exp_avg``: the same exponential average
of the gradients as SGD's buffer with ``momentum = beta1``, up to the factor
``1 - beta1``, which changes neither the order of positions within a layer nor the
layers' shares (a choice; the Adam step ``exp_avg / sqrt(exp_avg_sq)`` is not used).

Against the authors' code (sparse_learning, ``Masking`` with magnitude pruning,
momentum growth and momentum redistribution):

- the drop rule, the growth positions, the per-layer shares, the end-of-epoch timing
  (none after the last epoch), the prunable set (every conv and linear weight) and
  kept momentum: as the reference;
- the prune rate's cosine over all training steps, with its floor of 0.005
  (``prune_rate_floor``): as the reference;
- a near-dense layer (density above 0.8) whose momentum share is above the average
  1/L has its prune rate cut to its own sparsity (``adjust_near_dense``): as the
  reference;
- a layer regrows at most 0.99 of its free positions (``growth_cap``) and what it
  cannot hold is shared equally among the layers with room (``overflow``): as the
  reference, up to rounding;
- removal counts are rounded up: as the reference;
- regrowth counts are integers that add up to exactly the removed count: a choice,
  because the reference rounds each share up and then down and evens the total out
  over later updates, whereas here the target sparsity holds at every update;
- the initial mask keeps exactly the same count per layer (up to one weight): a
  choice, because the reference draws each position independently, which hits the
  density only on average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from methods.base import METHODS
from methods.distributions import apportion, apportion_spill_equally
from methods.dropgrow import DropGrow, DropGrowOptions
from methods.masks import topk_masks
from methods.schedules import cosine_decay

#: A layer whose sparsity is below this (density above 0.8) is near dense.
NEAR_DENSE_SPARSITY = 0.2


@dataclass(frozen=True)
class SMOptions(DropGrowOptions):
    """``[method.sm]``.

    - ``prune_rate`` (0.5): the fraction of each layer's active weights removed at the
      start, cosine-decayed over training.
    - ``prune_rate_floor`` (0.005): where the cosine ends (0 was this method's version 1).
    - ``adjust_near_dense`` (true): cut the prune rate of a layer denser than 0.8 with
      an above-average momentum share to that layer's sparsity (false: no such rule).
    - ``growth_cap`` (0.99): the fraction of a layer's free positions it may regrow
      (1.0: all of them); where the caps cannot hold the removed count, every free
      position counts.
    - ``overflow`` ("equal"): what a capped layer cannot hold is shared equally among
      the layers with room; "momentum" shares it again by mean ``|momentum|``.
    - ``distribution`` ("uniform", a choice: the same random density in every layer;
      "erk", "er" and "global" are the alternatives; see :class:`DropGrowOptions`).
    - ``exclude_first_conv`` / ``exclude_last_linear`` / ``exclude_shortcuts`` (False).
    """

    prune_rate: float = 0.5
    prune_rate_floor: float = 0.005
    adjust_near_dense: bool = True
    growth_cap: float = 0.99
    overflow: Literal["equal", "momentum"] = "equal"

    def validate(self) -> str | None:
        if not 0.0 <= self.prune_rate < 1.0:
            return f"prune_rate = {self.prune_rate} must lie in [0, 1)"
        if not 0.0 <= self.prune_rate_floor <= self.prune_rate:
            return (f"prune_rate_floor = {self.prune_rate_floor} must lie in "
                    f"[0, prune_rate = {self.prune_rate}]")
        if not 0.0 < self.growth_cap <= 1.0:
            return f"growth_cap = {self.growth_cap} must lie in (0, 1]"
        return None


def momentum_of(param: torch.nn.Parameter, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """The optimizer's momentum of ``param`` (SGD's buffer, AdamW's first moment), else
    its gradient, else zeros."""
    state = optimizer.state.get(param, {})
    buf = state.get("momentum_buffer", state.get("exp_avg"))
    if buf is None:
        buf = param.grad if param.grad is not None else torch.zeros_like(param)
    return buf.detach()


@METHODS.register("sm")
class SparseMomentum(DropGrow):
    """Drop by magnitude per layer, grow where the momentum is largest, once per epoch."""

    name = "sm"
    label = "SM"
    version = 2
    Options = SMOptions
    zero_pruned_momentum = False
    masks_gradients = False  # dense: the momentum of missing weights; the step is re-masked

    def on_epoch_end(self, epoch: int, model, optimizer) -> None:
        step = (epoch + 1) * self.ctx.steps_per_epoch
        if step + self.ctx.steps_per_epoch <= self.ctx.total_steps:  # not after the last epoch
            self.update(step, optimizer)

    def prune_rate(self, step: int) -> float:
        o = self.options
        return cosine_decay(step, self.ctx.total_steps, o.prune_rate, o.prune_rate_floor)

    def layer_rates(self, step: int, optimizer) -> dict[str, float]:
        """Each layer's prune rate at ``step``, near-dense layers cut to their sparsity."""
        rate = self.prune_rate(step)
        rates = dict.fromkeys(self.masks, rate)
        means = self.grow_weights(self.masks, optimizer)
        if not self.options.adjust_near_dense or sum(means) <= 0:
            return rates
        for (name, mask), mean in zip(self.masks.items(), means, strict=True):
            sparsity = (mask.numel() - int(mask.count_nonzero())) / mask.numel()
            if sparsity < NEAR_DENSE_SPARSITY and mean / sum(means) > 1.0 / len(means):
                rates[name] = min(sparsity, rate)
        return rates

    def drop(self, step, optimizer) -> dict[str, torch.Tensor]:
        out = {}
        for name, rate in self.layer_rates(step, optimizer).items():
            mask = self.masks[name]
            alive = int(mask.count_nonzero())
            scores = torch.where(mask, self._params[name].detach().abs(), -1.0)
            out[name] = topk_masks({name: scores}, alive - math.ceil(rate * alive))[name]
        return out

    def grow_weights(self, kept, optimizer) -> list[float]:
        """Mean ``|momentum|`` of each layer's active weights (before the drop)."""
        out = []
        for name, mask in self.masks.items():
            mom = momentum_of(self._params[name], optimizer).abs()[mask]
            out.append(float(mom.mean()) if mom.numel() else 0.0)
        return out

    def grow_counts(self, removed, kept, free, optimizer) -> list[int]:
        caps = [math.floor(self.options.growth_cap * f) for f in free]
        if sum(caps) < removed:
            caps = list(free)
        weights = self.grow_weights(kept, optimizer)
        if self.options.overflow == "momentum":
            return apportion(removed, weights, caps=caps)
        return apportion_spill_equally(removed, weights, caps)

    def grow_scores(self, name, generator, optimizer) -> torch.Tensor:
        return momentum_of(self._params[name], optimizer).abs()
