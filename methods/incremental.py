"""Incremental (gradual) magnitude pruning, Zhu & Gupta 2017, "To prune, or not to prune".

The sparsity follows the cubic schedule from ``schedule_start`` to ``schedule_end``;
every ``prune_every`` steps in between, each layer is pruned to the scheduled sparsity
by its own magnitude threshold. Pruned weights are set to zero and never updated
again (hard mask); masks only shrink.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import METHODS
from methods.magnitude import GradualMagnitude, MagnitudeOptions, check_window
from methods.masks import Scope


@dataclass(frozen=True)
class IncrementalOptions(MagnitudeOptions):
    """``[method.incremental]``.

    - ``prune_every`` (100, a choice): steps between mask updates (Zhu & Gupta's Δt).
    - ``schedule_start`` (0.0) / ``schedule_end`` (None = the second learning-rate drop,
      the same window as DPF's so the two differ only by feedback; a choice).
    - ``initial_sparsity`` (0.0): s_i.
    - ``scope`` ("layer": one threshold per layer, as in the paper), ``structure``,
      ``exclude_first_conv`` / ``exclude_last_linear`` (False).
    """

    scope: Scope = "layer"
    prune_every: int = 100
    schedule_start: float = 0.0
    schedule_end: float | None = None
    initial_sparsity: float = 0.0

    def validate(self) -> str | None:
        if self.prune_every < 1:
            return f"prune_every = {self.prune_every} must be a positive number of steps"
        if not 0.0 <= self.initial_sparsity < 1.0:
            return f"initial_sparsity = {self.initial_sparsity} must lie in [0, 1)"
        return check_window(self.schedule_start, self.schedule_end) or super().validate()


@METHODS.register("incremental")
class Incremental(GradualMagnitude):
    """Gradual magnitude pruning with a hard mask that only shrinks."""

    name = "incremental"
    Options = IncrementalOptions
    mask_mode = "hard"
    moves_mask = True
    shrink_only = True

    @property
    def period(self) -> int:
        return self.options.prune_every
