"""Magnitude pruning: keep the largest weights (or filters) at a target sparsity.

:class:`MagnitudePruner` answers *what to keep* (largest ``|w|``, or largest filter
norms, over one global threshold or one per layer). :class:`GradualMagnitude` adds
*when and how much*: Zhu & Gupta's cubic schedule, a mask recomputed every ``period``
steps. Incremental pruning, one-shot pruning and DPF are small subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from methods.distributions import distribution_masks
from methods.masks import filter_masks, filter_norms, magnitude_masks, sparsity_masks
from methods.schedules import cubic_sparsity, every, resolve_window
from methods.updater import LayerOptions, MaskUpdater

Structure = Literal["unstructured", "filter"]
#: The sparsity distribution of magnitude methods: "layer" is the uniform one.
MagnitudeScope = Literal["global", "layer", "erk", "er"]


@dataclass(frozen=True)
class MagnitudeOptions(LayerOptions):
    """Magnitude selection: ``scope`` "global" (one threshold over all prunable layers),
    "layer" (the same sparsity in every layer), "erk" or "er" (each layer pruned to its
    Erdős–Rényi(-kernel) share, see :mod:`methods.distributions`); ``structure``
    "unstructured" (single weights by ``|w|``) or "filter" (whole output channels by
    their L2 norm; global or layer scope only)."""

    scope: MagnitudeScope = "global"
    structure: Structure = "unstructured"

    def validate(self) -> str | None:
        if self.structure == "filter" and self.scope not in ("global", "layer"):
            return (f"scope = {self.scope!r} shares single weights out among layers; with "
                    "structure = 'filter' use scope 'global' or 'layer'")
        if self.structure == "filter" and not self.exclude_last_linear:
            return ("structure = 'filter' drops whole output rows, and the rows of the last "
                    "linear layer are the classes; set exclude_last_linear = true")
        return None


def check_window(start: float, end: float | None) -> str | None:
    """An error message for a schedule window that is not within training, else None."""
    if not 0.0 <= start < 1.0:
        return f"schedule_start = {start} is a fraction of training and must lie in [0, 1)"
    if end is not None and not start <= end <= 1.0:
        return f"schedule_end = {end} must lie in [schedule_start, 1] (or be left out)"
    return None


class MagnitudePruner(MaskUpdater):
    """Masks keeping the largest weights at :meth:`target` sparsity when :meth:`due`."""

    #: True for hard methods whose masks only shrink: pruned weights (or filters) score
    #: below every kept one, so ties at zero can never bring one back.
    shrink_only: ClassVar[bool] = False

    def target(self, step: int) -> float:
        """The sparsity of the masks installed after step ``step``."""
        return self.ctx.sparsity

    def update(self, step: int, optimizer: torch.optim.Optimizer) -> None:
        self.set_masks(self.select(self.target(step)), optimizer, step)

    @torch.no_grad()
    def select(self, sparsity: float) -> dict[str, torch.Tensor]:
        """Masks at ``sparsity`` from the current weights, by ``scope`` and ``structure``."""
        o, weights = self.options, self.weights
        shrink = self.shrink_only and bool(self.masks)
        if o.structure == "filter":
            scores = filter_norms(weights)
            if shrink:
                scores = {n: torch.where(self.masks[n].reshape(len(s), -1).any(1), s, -1.0)
                          for n, s in scores.items()}
            return filter_masks(scores, {n: w.shape for n, w in weights.items()}, sparsity, scope=o.scope)
        if shrink:
            scores = {n: torch.where(self.masks[n], w.abs(), -1.0) for n, w in weights.items()}
            if o.scope in ("erk", "er"):
                return distribution_masks(scores, sparsity, o.scope)
            return sparsity_masks(scores, sparsity, scope=o.scope)
        if o.scope in ("erk", "er"):
            return distribution_masks(weights, sparsity, o.scope, magnitude=True)
        return magnitude_masks(weights, sparsity, scope=o.scope)


class GradualMagnitude(MagnitudePruner):
    """The cubic schedule from ``initial_sparsity`` at ``schedule_start`` (t0) to the
    target at ``schedule_end`` (t1; None means the second learning-rate drop, or 75%
    of training under a cosine or linear learning-rate schedule, which has no drops).

    Masks are recomputed after steps t0, t0 + period, ... and also exactly at t1, so the
    target is met when the schedule ends. Past t1 they keep being recomputed at the
    target every period only if :meth:`keeps_updating`; the final model is evaluated
    with the mask that its last steps trained with."""

    def __init__(self, options, ctx) -> None:
        super().__init__(options, ctx)
        t0, t1 = resolve_window(options.schedule_start, options.schedule_end, ctx.recipe,
                                ctx.total_steps)
        self.t0, self.t1 = t0, max(t1, 1)  # the first mask can come after step 1 at the earliest

    @property
    def period(self) -> int:
        raise NotImplementedError

    def keeps_updating(self) -> bool:
        """Whether masks keep being recomputed after the schedule has reached the target."""
        return False

    def target(self, step: int) -> float:
        return cubic_sparsity(step, self.ctx.sparsity, begin=self.t0, end=self.t1,
                              initial=self.options.initial_sparsity)

    def due(self, step: int) -> bool:
        if step < self.t0:
            return False
        end = self.ctx.total_steps if self.keeps_updating() else self.t1
        return step == self.t1 or every(step, self.period, begin=self.t0, end=end)
