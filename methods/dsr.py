"""DSR, dynamic sparse reparameterization (Mostafa & Wang; ICML 2019).

A random sparse mask at the target density; every ``rewire_every`` steps, weights with
``|w|`` below one adaptive global threshold H are pruned, and H is adjusted for the
next period against a target count N_p: doubled if fewer than (1 - tolerance) N_p were
pruned, halved if more than (1 + tolerance) N_p. The same number is regrown at random
free positions, shared across layers in proportion to their non-zero counts after
pruning (capped by free slots); regrown weights start at zero. As in the original,
the first conv and the classifier stay dense by default: they are not among DSR's
prunable weights, so the target sparsity holds over the layers it does prune.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from methods.base import METHODS
from methods.dropgrow import DropGrow, DropGrowOptions


@dataclass(frozen=True)
class DSROptions(DropGrowOptions):
    """``[method.dsr]``.

    - ``rewire_every`` (100 steps, a choice): the reallocation period. No rewiring
      happens within the last period, so regrown weights always get trained.
    - ``initial_threshold`` (0.001): H at the start.
    - ``prune_fraction`` (0.1, a choice): N_p as a fraction of the active weights (the
      paper states N_p as an absolute count per network; a fraction carries over).
    - ``tolerance`` (0.1): δ of the halving/doubling rule.
    - ``exclude_first_conv`` / ``exclude_last_linear`` (True: those stay dense, as in
      the paper), ``distribution`` ("uniform").
    """

    exclude_first_conv: bool = True
    exclude_last_linear: bool = True
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


@METHODS.register("dsr")
class DSR(DropGrow):
    """Prune below an adaptive global threshold, regrow at random, every period."""

    name = "dsr"
    Options = DSROptions

    def __init__(self, options: Any, ctx: Any) -> None:
        super().__init__(options, ctx)
        self.threshold = options.initial_threshold

    def due(self, step: int) -> bool:
        period = self.options.rewire_every
        return step % period == 0 and step + period <= self.ctx.total_steps

    def drop(self, step, optimizer) -> dict[str, torch.Tensor]:
        kept = {n: m & (self._params[n].detach().abs() >= self.threshold) for n, m in self.masks.items()}
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
