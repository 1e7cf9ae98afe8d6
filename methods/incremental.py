"""Incremental (gradual) magnitude pruning, Zhu & Gupta 2017, "To prune, or not to prune".

The sparsity follows the cubic schedule from ``schedule_start`` to ``schedule_end``;
every ``prune_every`` steps in between, each layer is pruned to the scheduled sparsity
by its own magnitude threshold. Pruned weights are set to zero and never updated
again (hard mask); masks only shrink.

Against the paper's description:

- the schedule ``s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n Δt))^3`` with ``s_i = 0``: as the
  reference;
- each layer sorted by ``|w|`` and masked up to the scheduled sparsity (one threshold
  per layer): as the reference;
- masked weights get no update, so masks only shrink, and they are no longer updated
  once the target is reached: as the reference;
- frequency Δt = 100 steps: as the reference, which found 100 to 1000 steps to make no
  difference;
- begin t0 = 0 and end t1 = the second learning-rate drop: a choice, because the paper
  sets them per experiment (it warns against pruning on after the learning rate has
  become small) and DPF uses the same window here, so the two differ only by the
  feedback. t1 need not lie on the grid t0 + kΔt, so the last update is at t1 itself;
- which layers: every conv and linear weight, first conv and classifier included: a
  choice, because the paper picks the pruned layers per model, and DPF prunes the
  same set here.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import METHODS
from methods.magnitude import GradualMagnitude, MagnitudeOptions, MagnitudeScope, check_window
from methods.mask_modes import HARD


@dataclass(frozen=True)
class IncrementalOptions(MagnitudeOptions):
    """``[method.incremental]``.

    - ``prune_every`` (100, a choice): steps between mask updates (Zhu & Gupta's Δt).
    - ``schedule_start`` (0.0) / ``schedule_end`` (None = the second learning-rate drop,
      the same window as DPF's so the two differ only by feedback; a choice).
    - ``initial_sparsity`` (0.0): s_i.
    - ``scope`` ("layer": one threshold per layer, as in the paper; "global", "erk", "er"
      the alternatives), ``structure``,
      ``exclude_first_conv`` / ``exclude_last_linear`` (False).
    """

    scope: MagnitudeScope = "layer"
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
    label = "Incremental"
    Options = IncrementalOptions
    mask_mode = HARD
    moves_mask = True
    shrink_only = True

    @property
    def period(self) -> int:
        return self.options.prune_every
