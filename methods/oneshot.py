"""One-shot prune and fine-tune, P+FT (Han et al. 2015).

Train dense for the first ``prune_at`` of the budget, prune once to the target by
magnitude (one global threshold), then fine-tune the rest of the budget with the mask
fixed (hard: pruned weights stay zero). The total budget is the spec's, so P+FT is
compared at the same number of steps as every other method.

Against the paper's description (train, prune the small weights, retrain):

- pruning by weight magnitude, once, then retraining the kept weights with the pruned
  ones held at zero: as the reference (its iterated prune/retrain cycles are not
  one-shot);
- one global threshold at the target sparsity: a choice, because the paper sets a
  threshold per layer (a quality parameter times the layer's weight standard
  deviation), which does not hit a declared overall sparsity; ``scope = "layer"``
  gives each layer the target instead;
- every conv and linear weight is prunable: as the reference, which prunes conv and
  fully connected layers alike;
- the dense phase and the fine-tuning share one budget, split at ``prune_at`` (0.5, the
  first learning-rate drop of the CIFAR recipes, so fine-tuning runs at the lower
  rates, as the paper's retraining at a reduced rate does): a choice, because the
  comparison is at an equal total number of steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import METHODS
from methods.magnitude import MagnitudeOptions, MagnitudePruner
from methods.mask_modes import HARD
from methods.schedules import fraction_step


@dataclass(frozen=True)
class OneShotOptions(MagnitudeOptions):
    """``[method.oneshot]``.

    - ``prune_at`` (0.5, a choice): the fraction of training done dense; pruning happens
      after that step and the remaining ``1 - prune_at`` is fine-tuning. With the default
      CIFAR recipe this is the first learning-rate drop.
    - ``scope`` ("global"; or "layer", "erk", "er"), ``structure``,
      ``exclude_first_conv`` / ``exclude_last_linear``.
    """

    prune_at: float = 0.5

    def validate(self) -> str | None:
        if not 0.0 < self.prune_at < 1.0:
            return f"prune_at = {self.prune_at} is a fraction of training and must lie in (0, 1)"
        return super().validate()


@METHODS.register("oneshot")
class OneShot(MagnitudePruner):
    """Prune once by magnitude after ``prune_at`` of training, then fine-tune."""

    name = "oneshot"
    label = "One-shot P+FT"
    Options = OneShotOptions
    mask_mode = HARD

    def due(self, step: int) -> bool:
        return step == max(1, fraction_step(self.options.prune_at, self.ctx.total_steps))
