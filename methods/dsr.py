"""DSR, dynamic sparse reparameterization (Mostafa & Wang; ICML 2019).

A random sparse mask at the target density; every ``rewire_every`` steps, weights with
``|w|`` below one adaptive global threshold H are pruned, and H is adjusted for the
next period against a target count N_p: doubled if fewer than (1 - tolerance) N_p were
pruned, halved if more than (1 + tolerance) N_p. The same number is regrown at random
free positions, shared across layers in proportion to their non-zero counts after
pruning (capped by free positions); regrown weights start at zero.

Against the authors' code (dynamic-reparameterization: threshold pruning with
``rewire_scaling``):

- the threshold rule, the pruned sets and the shares by non-zeros: as the reference;
- a position pruned in an update is not regrown by the same update (unless no other
  position is free anywhere): as the reference;
- a layer is never emptied: if every active weight of a layer is below H, its first
  one (lowest index) stays: as the reference;
- the first conv and the 1x1 convs of residual shortcuts (``shortcut`` /
  ``downsample``) stay dense; the classifier stays dense in convolutional models
  but is sparse in torchvision's ResNets (the reference's ImageNet ResNet-50) and in
  models without convolutions (its MLP): as the reference, whose CIFAR WideResNet
  keeps its classifier dense. The target sparsity holds over the layers DSR prunes;
- rounding of the shares by largest remainder: a choice, because the reference gives
  the rounding remainder to a random layer, and here every rank must draw the same;
- a constant rewiring period (100 steps) and N_p as a fraction of the active weights:
  choices, because a period and a count that carry over between models and budgets
  are needed (the reference doubles its period three times during training and sets
  N_p per network, 20,000 on WRN-28-2 and 400,000 on ResNet-50);
- rewiring runs to the last period: a choice (the reference stops it about 5% of the
  epochs before the end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from methods.base import METHODS
from methods.dropgrow import DropGrow, DropGrowOptions
from methods.updater import CONV


@dataclass(frozen=True)
class DSROptions(DropGrowOptions):
    """``[method.dsr]``.

    - ``rewire_every`` (100 steps, a choice): the reallocation period. No rewiring
      happens within the last period, so regrown weights always get trained.
    - ``initial_threshold`` (0.001): H at the start.
    - ``prune_fraction`` (0.1, a choice): N_p as a fraction of the active weights (the
      paper states N_p as an absolute count per network; a fraction carries over).
    - ``tolerance`` (0.1): δ of the halving/doubling rule.
    - ``exclude_first_conv`` (true) and ``exclude_shortcuts`` (true): those stay dense,
      as in the reference (false for both was this method's version 1 with
      ``exclude_last_linear = true``).
    - ``exclude_last_linear`` (unset: the reference's rule, dense in convolutional
      models except torchvision's ResNets, sparse in those and in models without
      convolutions; true or false decides for every model).
    - ``distribution`` ("uniform"; "erk", "er", "global" the alternatives).
    """

    exclude_first_conv: bool = True
    exclude_last_linear: bool | None = None
    exclude_shortcuts: bool = True
    rewire_every: int = 100
    initial_threshold: float = 0.001
    prune_fraction: float = 0.1
    tolerance: float = 0.1

    def validate(self) -> str | None:
        if self.rewire_every < 1:
            return f"rewire_every = {self.rewire_every} must be a positive number of steps"
        if self.initial_threshold <= 0:
            return f"initial_threshold = {self.initial_threshold} must be positive"
        if not 0.0 < self.prune_fraction < 1.0:
            return f"prune_fraction = {self.prune_fraction} must lie in (0, 1)"
        if not 0.0 <= self.tolerance < 1.0:
            return f"tolerance = {self.tolerance} must lie in [0, 1)"
        return None


def adjust_threshold(threshold: float, pruned: int, target: int, tolerance: float) -> float:
    """DSR's rule: double H if too few were pruned, halve it if too many, else keep it."""
    if pruned < (1.0 - tolerance) * target:
        return threshold * 2.0
    if pruned > (1.0 + tolerance) * target:
        return threshold / 2.0
    return threshold


def reference_prunes_classifier(model: nn.Module) -> bool:
    """Whether DSR's reference code makes the classifier of a model like ``model`` sparse:
    in torchvision's ResNets (its ImageNet ResNet-50) and in models without convolutions
    (its MLP), not in other convolutional models (its CIFAR WideResNet)."""
    from torchvision.models import ResNet

    return isinstance(model, ResNet) or not any(isinstance(m, CONV) for m in model.modules())


def threshold_masks(masks: dict[str, torch.Tensor], weights: dict[str, torch.Tensor],
                    threshold: float) -> dict[str, torch.Tensor]:
    """``masks`` without the weights below ``threshold``; a layer that would lose every
    active weight keeps its first one (lowest flat index)."""
    out = {}
    for name, mask in masks.items():
        kept = mask & (weights[name].abs() >= threshold)
        if not kept.any() and mask.any():
            kept.view(-1)[mask.reshape(-1).nonzero()[0]] = True
        out[name] = kept
    return out


@METHODS.register("dsr")
class DSR(DropGrow):
    """Prune below an adaptive global threshold, regrow at random, every period."""

    name = "dsr"
    label = "DSR"
    version = 2
    Options = DSROptions
    regrow_dropped = False

    def __init__(self, options: Any, ctx: Any) -> None:
        super().__init__(options, ctx)
        self.threshold = options.initial_threshold

    def excludes_classifier(self, model: nn.Module) -> bool:
        if self.options.exclude_last_linear is None:
            return not reference_prunes_classifier(model)
        return self.options.exclude_last_linear

    def due(self, step: int) -> bool:
        period = self.options.rewire_every
        return step % period == 0 and step + period <= self.ctx.total_steps

    def drop(self, step, optimizer) -> dict[str, torch.Tensor]:
        kept = threshold_masks(self.masks, self.weights, self.threshold)
        active = sum(int(m.count_nonzero()) for m in self.masks.values())
        pruned = active - sum(int(m.count_nonzero()) for m in kept.values())
        target = round(self.options.prune_fraction * active)
        self.threshold = adjust_threshold(self.threshold, pruned, target, self.options.tolerance)
        return kept

    def grow_weights(self, kept, optimizer) -> list[float]:
        return [float(m.count_nonzero()) for m in kept.values()]

    def grow_scores(self, name, generator, optimizer) -> torch.Tensor:
        return torch.rand(self.masks[name].shape, generator=generator).to(self.masks[name].device)

    def extra_state(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.threshold = float(state.get("threshold", self.options.initial_threshold))
