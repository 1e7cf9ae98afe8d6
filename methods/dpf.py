"""DPF, dynamic pruning with feedback (Lin, Stich, Barba, Dmitriev, Jaggi; ICLR 2020).

``w_{t+1} = w_t - lr_t * g(m_t * w_t)``: the gradient is taken at the pruned model and
applied to the dense one. The feedback mask mode of :mod:`methods.base` does exactly
that (forward and backward see ``w * m``, the update goes to the dense ``w``), so
pruned weights keep moving and come back when they grow. DPF is therefore gradual
magnitude pruning of the dense weights with a feedback mask that never stops moving.

Against the paper's Algorithm 1 and its description:

- every ``p`` steps the mask is recomputed from the dense weights ``w_t`` by smallest
  magnitude, and the stochastic gradient at ``m * w_t`` updates ``w_t``: as the
  reference. Steps count finished updates, so the mask computed after step ``t = kp``
  is the one the gradient of iteration ``t`` sees, as in the algorithm. Its mask at
  ``t = 0`` keeps everything at the default ``s_i = 0`` and is not computed; with
  ``initial_sparsity`` above 0 the first ``p`` steps therefore run dense (a choice:
  the hooks start after the first step);
- the mask keeps being recomputed until the last step, and the model reported is
  ``m * w``; no retraining: as the reference (``freeze_at_end`` stops the recomputation
  at the target instead);
- the target sparsity follows Zhu & Gupta's cubic schedule from ``s_i = 0``: as the
  reference; its end at the second learning-rate drop is a choice, because the
  schedule's end is not fixed by the algorithm (``schedule_end`` moves it);
- ``p = 16`` steps: a choice (the period this method was specified with; not checked
  against the paper's text);
- one global threshold over all conv and linear weights: a choice, because the
  algorithm leaves the pruning scheme open (``scope = "layer"`` is the alternative);
- momentum and weight decay act on the dense ``w``: a choice, because Algorithm 1 is
  written for plain SGD, and with momentum the update of ``w`` is the optimizer's. With
  ``optimizer = "adamw"`` likewise: both moments and the decoupled weight decay belong
  to the dense ``w`` and are never cleared by a mask (a pruned weight keeps moving);
  with ``grad_clip`` the clipped gradient is the one taken at ``m * w``, all of it
  (pruned coordinates included, since they are updated too).
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import METHODS
from methods.magnitude import GradualMagnitude, MagnitudeOptions, check_window
from methods.mask_modes import FEEDBACK


@dataclass(frozen=True)
class DPFOptions(MagnitudeOptions):
    """``[method.dpf]``.

    - ``reprune_every`` (16, a choice): steps between mask recomputations.
    - ``schedule_start`` (0.0) / ``schedule_end`` (None = the second learning-rate drop;
      a choice): the cubic schedule's t0 and t1 as fractions of training.
    - ``initial_sparsity`` (0.0): s_i, the schedule's starting sparsity.
    - ``freeze_at_end`` (False): stop recomputing the mask once the schedule has reached
      the target; by default the mask keeps being recomputed (feedback continues).
    - ``scope`` ("global"; "layer", "erk" and "er" are the other distributions),
      ``structure`` ("unstructured"; "filter" scores whole output channels by their
      norm), ``exclude_first_conv`` / ``exclude_last_linear``
      (both False, a choice: every conv and linear weight is prunable).
    """

    reprune_every: int = 16
    schedule_start: float = 0.0
    schedule_end: float | None = None
    initial_sparsity: float = 0.0
    freeze_at_end: bool = False

    def validate(self) -> str | None:
        if self.reprune_every < 1:
            return f"reprune_every = {self.reprune_every} must be a positive number of steps"
        if not 0.0 <= self.initial_sparsity < 1.0:
            return f"initial_sparsity = {self.initial_sparsity} must lie in [0, 1)"
        return check_window(self.schedule_start, self.schedule_end) or super().validate()


@METHODS.register("dpf")
class DPF(GradualMagnitude):
    """Dynamic pruning with feedback: magnitude masks of the dense weights, recomputed
    every ``reprune_every`` steps under the cubic schedule and, unless frozen, on at the
    target until the end of training."""

    name = "dpf"
    label = "DPF"
    Options = DPFOptions
    mask_mode = FEEDBACK
    moves_mask = True

    @property
    def period(self) -> int:
        return self.options.reprune_every

    def keeps_updating(self) -> bool:
        return not self.options.freeze_at_end
