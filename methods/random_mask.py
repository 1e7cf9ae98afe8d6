"""Random pruning at initialization: the sanity baseline of every pruning comparison.

Before the first step, each prunable layer keeps a uniformly random set of positions,
as many as the ``distribution`` gives it at the target sparsity; the mask is then fixed
for the whole of training and pruned weights stay zero (hard). A method that cannot beat
this, at the same sparsity and distribution, has learned nothing about *which* weights
matter.

Against the "Static" baseline of Evci et al. (ICML 2020, "Rigging the Lottery"):

- a random mask drawn once at initialization and never changed, pruned weights held at
  zero: as the reference;
- exact per-layer counts (up to one weight), drawn from the run's (seed, step 0)
  generator: a choice, because a mask that keeps each weight independently hits the
  target only on average; the draw is the very one SM and DSR start from at the same
  seed, distribution and prunable layers, so their gain from rewiring can be read off
  directly;
- ``distribution = "uniform"`` by default: a choice, because the baseline should carry
  no knowledge about layers at all; ``"erk"`` is Evci et al.'s static ERK baseline and
  ``"er"`` Mocanu et al.'s static one, ``"global"`` one draw over all positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import METHODS
from methods.distributions import Distribution, random_distribution_masks
from methods.mask_modes import HARD
from methods.updater import LayerOptions, MaskUpdater


@dataclass(frozen=True)
class RandomOptions(LayerOptions):
    """``[method.random]``.

    - ``distribution`` ("uniform", a choice: the same density in every layer; "erk",
      "er" or "global" the alternatives, see :mod:`methods.distributions`).
    - ``exclude_first_conv`` / ``exclude_last_linear`` / ``exclude_shortcuts`` (False, a
      choice: every conv and linear weight is pruned, as by SNIP's defaults).
    """

    distribution: Distribution = "uniform"


@METHODS.register("random")
class RandomMask(MaskUpdater):
    """Random mask at initialization, fixed for training (the Static baseline, Evci et al. 2020)."""

    name = "random"
    label = "Random"
    Options = RandomOptions
    mask_mode = HARD

    def initial_masks(self, model, batch, loss_fn) -> dict[str, torch.Tensor]:
        shapes = {n: p.shape for n, p in self._params.items()}
        masks = random_distribution_masks(shapes, self.ctx.sparsity, self.options.distribution,
                                          self.generator(0))
        return {n: m.to(self._params[n].device) for n, m in masks.items()}
