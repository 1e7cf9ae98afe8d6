"""SET, sparse evolutionary training (Mocanu et al., Nature Communications 2018).

Sparse from the start: an Erdős–Rényi random mask at the target density. After every
training epoch, each layer loses the fraction ``zeta`` of its positive weights nearest
to zero and the same fraction of its negative weights nearest to zero, and grows back
as many connections as it lost at random free positions. Grown weights start at zero.
Each layer keeps its number of connections, so the initial distribution holds for good.

Against the paper's description:

- Erdős–Rényi initial densities, proportional to ``(n_in + n_out) / (n_in * n_out)``:
  as the paper (``distribution = "er"``; a conv counts its channels only, as Evci et
  al. 2020 apply ER to convs; the paper's ε is replaced by the target sparsity);
- ``zeta = 0.3`` of the smallest positive and of the largest negative weights, per
  layer, and the same number regrown at random in that layer: as the paper; the counts
  ``floor(zeta * n)`` per sign are a choice (the paper does not round), and an active
  weight at exactly zero counts as the smallest positive one (a choice);
- the evolution runs after each training epoch (not every ΔT steps): as the paper;
  none after the last epoch, so grown weights are always trained (a choice, because a
  grown weight still at zero would count as pruned in the measured sparsity).
  ``rewire_every`` (steps) replaces the epoch for short budgets;
- grown weights start at zero, with zero momentum (``grow_init = "zero"``): a choice,
  because the paper's code draws them at random, whereas Evci et al.'s SET baseline,
  the one later comparisons use, starts them at zero like every other drop-and-grow
  method here; a position dropped by an update may be drawn again by it and then
  restarts at zero (as that baseline). ``grow_init = "random"`` draws them as the
  paper's code does, small random values on the scale of the layer's initialization:
  ``N(0, sigma)``, ``sigma`` the standard deviation of the layer's weights when
  training starts (before masking), with zero momentum. The paper's code draws them as
  it initializes its weights, ``N(0, 1) / 10`` whatever the layer; the layer's own scale
  is a choice, because a fixed 0.1 is far off the initial scale of wide or deep layers;
- every conv and linear weight is sparse: a choice, because the paper applies SET to
  fully connected layers, and the comparison here is over the same layers as the others'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from methods.base import METHODS
from methods.dropgrow import DropGrow, DropGrowOptions, InitialDistribution
from methods.masks import topk_masks

#: How grown weights start: at zero, or drawn at random on the layer's initial scale.
GrowInit = Literal["zero", "random"]


@dataclass(frozen=True)
class SETOptions(DropGrowOptions):
    """``[method.set]``.

    - ``zeta`` (0.3, as the paper): the fraction of each sign's active weights removed per
      layer at each evolution.
    - ``rewire_every`` (0, as the paper: after every epoch but the last): a positive value
      evolves every that many steps instead (none within the last period).
    - ``distribution`` ("er", as the paper; "erk", "uniform", "global" the alternatives).
    - ``grow_init`` ("zero", a choice, as Evci et al.'s SET baseline and RigL; "random" as
      the paper's code: ``N(0, sigma)`` with the layer's initial standard deviation).
    - ``exclude_first_conv`` / ``exclude_last_linear`` / ``exclude_shortcuts`` (False).
    """

    distribution: InitialDistribution = "er"
    zeta: float = 0.3
    rewire_every: int = 0
    grow_init: GrowInit = "zero"

    def validate(self) -> str | None:
        if not 0.0 < self.zeta < 1.0:
            return f"zeta = {self.zeta} must lie in (0, 1)"
        if self.rewire_every < 0:
            return f"rewire_every = {self.rewire_every} must be 0 (every epoch) or a number of steps"
        return None


def drop_near_zero(mask: torch.Tensor, weight: torch.Tensor, zeta: float) -> torch.Tensor:
    """``mask`` without the ``floor(zeta * n)`` positive weights (zero included) and the
    ``floor(zeta * n)`` negative weights nearest to zero, ``n`` counted per sign; ties
    drop the later positions."""
    positive, negative = mask & (weight >= 0), mask & (weight < 0)
    kept = torch.zeros_like(mask)
    for side, score in ((positive, weight), (negative, -weight)):
        n = int(side.count_nonzero())
        keep = topk_masks({"w": torch.where(side, score, -1.0)}, n - math.floor(zeta * n))["w"]
        kept |= keep & side
    return kept


@METHODS.register("set")
class SET(DropGrow):
    """SET (Mocanu et al. 2018): drop the weights nearest zero per layer, regrow at random, every epoch."""

    name = "set"
    label = "SET"
    Options = SETOptions
    reset_grown_momentum = True

    def __init__(self, options: Any, ctx: Any) -> None:
        super().__init__(options, ctx)
        #: grow_init = "random": each layer's weight standard deviation at setup.
        self.init_std: dict[str, float] = {}

    @property
    def grows_random(self) -> bool:
        """``grow_init = "random"`` (RigL's options have no ``grow_init``: it grows at zero)."""
        return getattr(self.options, "grow_init", "zero") == "random"

    def initial_masks(self, model, batch, loss_fn) -> dict[str, torch.Tensor]:
        if self.grows_random:
            self.init_std = {n: float(p.detach().float().std()) for n, p in self._params.items()}
        return super().initial_masks(model, batch, loss_fn)

    def extra_state(self) -> dict[str, Any]:
        return {"init_std": dict(self.init_std)} if self.init_std else {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.init_std = dict(state.get("init_std", {}))

    def grown_values(self, name, generator) -> torch.Tensor | None:
        """``grow_init = "random"``: ``N(0, sigma)`` draws, ``sigma`` the layer's initial
        standard deviation; else None (zero)."""
        if not self.grows_random:
            return None
        return torch.randn(self.masks[name].shape, generator=generator) * self.init_std[name]

    def due(self, step: int) -> bool:
        period = self.options.rewire_every
        return period > 0 and step % period == 0 and step + period <= self.ctx.total_steps

    def on_epoch_end(self, epoch: int, model, optimizer) -> None:
        step = (epoch + 1) * self.ctx.steps_per_epoch
        if self.options.rewire_every == 0 and step + self.ctx.steps_per_epoch <= self.ctx.total_steps:
            self.update(step, optimizer)

    def drop(self, step, optimizer) -> dict[str, torch.Tensor]:
        return {n: drop_near_zero(m, self.weights[n], self.options.zeta) for n, m in self.masks.items()}

    def grow_counts(self, removed, kept, free, optimizer) -> list[int]:
        """Each layer grows back what it lost (its connection count never changes)."""
        return [int(self.masks[n].count_nonzero()) - int(k.count_nonzero()) for n, k in kept.items()]

    def grow_scores(self, name, generator, optimizer) -> torch.Tensor:
        return torch.rand(self.masks[name].shape, generator=generator).to(self.masks[name].device)
