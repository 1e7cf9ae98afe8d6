"""SNIP, single-shot network pruning (Lee, Ajanthan, Torr; ICLR 2019).

At initialization, one mini-batch: the saliency of each weight is ``|g * w|``
(connection sensitivity), normalized by its sum over all prunable weights; the global
top ``1 - s`` fraction is kept and the mask stays fixed for the whole of training.

Against the paper's description:

- connection sensitivity ``|dL/dc|`` at ``c = 1`` for a mask ``c`` on the weights, which
  is ``|g * w|``, normalized to sum 1: as the reference;
- one mini-batch of training data (the run's first batch, at the run's batch size),
  before any step, through the model in training mode: as the reference;
- one threshold over all prunable layers, first conv and classifier included: as the
  reference (``exclude_first_conv`` / ``exclude_last_linear`` can change that);
- the mask is fixed and pruned weights stay zero for the whole of training: as the
  reference;
- the saliency is taken on a copy of the model, so the batch moves no batch-norm
  statistics: a choice, because the run's training should start from the state every
  other method starts from;
- the weights at initialization are the model's own (Kaiming), not the paper's
  variance scaling: a choice, because every method of a comparison starts from the
  same initialization.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from methods.base import METHODS
from methods.distributions import Distribution, distribution_masks
from methods.mask_modes import HARD
from methods.updater import LayerOptions, MaskUpdater


@dataclass(frozen=True)
class SNIPOptions(LayerOptions):
    """``[method.snip]``: ``exclude_first_conv`` / ``exclude_last_linear`` (False: every
    conv and linear weight competes for the global budget); ``distribution`` ("global",
    as the paper; "uniform", "erk" or "er" keep the top saliencies of each layer up to
    its share instead)."""

    distribution: Distribution = "global"


def saliency(model: nn.Module, names: list[str], batch: tuple[torch.Tensor, torch.Tensor],
             loss_fn: Any) -> dict[str, torch.Tensor]:
    """Normalized connection sensitivity ``|g * w| / sum |g * w|`` of the weights ``names``,
    from one batch through a copy of ``model`` (its own BN statistics stay untouched)."""
    probe = copy.deepcopy(model)
    params = dict(probe.named_parameters())
    probe.zero_grad(set_to_none=True)
    x, y = batch
    loss_fn(probe(x), y).backward()
    with torch.no_grad():
        raw = {n: (params[n].grad if params[n].grad is not None else torch.zeros_like(params[n]))
               .mul(params[n]).abs_() for n in names}
        total = sum(float(s.sum()) for s in raw.values())
        return {n: s / total for n, s in raw.items()} if total > 0 else raw


@METHODS.register("snip")
class SNIP(MaskUpdater):
    """Prune at initialization by connection sensitivity; the mask is then fixed (hard)."""

    name = "snip"
    label = "SNIP"
    Options = SNIPOptions
    mask_mode = HARD

    def initial_masks(self, model, batch, loss_fn) -> dict[str, torch.Tensor]:
        scores = saliency(model, list(self._params), batch, loss_fn)
        return distribution_masks(scores, self.ctx.sparsity, self.options.distribution)
