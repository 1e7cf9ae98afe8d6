"""How a method's masks act on the model: its mask mode (``Method.mask_mode``).

- :data:`NONE` (``"none"``): no masks (dense).
- :data:`HARD` (``"hard"``): pruned weights are zero and get no update: gradients are
  masked (unless the method keeps them dense, ``Method.masks_gradients``), weights
  re-masked after the step, and installing masks zeroes the pruned weights and, unless
  the method keeps it (``Method.zero_pruned_momentum``), their optimizer state
  (:data:`WEIGHT_STATE`: SGD's momentum, AdamW's two moments), so that a weight regrown
  later starts afresh, from zero.
- :data:`FEEDBACK` (``"feedback"``, DPF): dense weights are kept; forward and backward
  see ``w * m``; the gradient goes straight through to the dense ``w``, so pruned
  coordinates keep moving and can return when the mask is recomputed.

A mode is a stateless object whose hooks :class:`methods.base.Method` calls at each
point of the cycle with the masks, the prunable parameters and, in feedback mode, the
dense weights stashed while ``w * m`` is in place. Its ``name`` is what specs, ``suite
list`` and tables print; a method class may name its mode by that string.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import torch
from torch import nn

#: The optimizer state kept per weight, shaped like it: SGD's momentum, AdamW's moments.
WEIGHT_STATE = ("momentum_buffer", "exp_avg", "exp_avg_sq")

Masks = Mapping[str, torch.Tensor]
Params = Mapping[str, nn.Parameter]


class MaskMode:
    """The no-op hooks; :data:`NONE` is this class itself."""

    name = "none"
    #: Pruned weights are held at zero (a backend keeping another copy of the weights,
    #: such as DeepSpeed's fp32 master, must mask that copy too).
    zeroes_weights = False
    #: ``before_step`` zeroes the gradients of pruned weights (where the method lets it).
    masks_gradients = False

    def __repr__(self) -> str:
        return f"<mask mode {self.name}>"

    def __str__(self) -> str:
        return self.name

    def install(self, masks: Masks, params: Params, optimizer: torch.optim.Optimizer | None,
                clear_state: bool) -> None:
        """New ``masks`` were installed (``clear_state``: zero the pruned weights' state)."""

    def before_forward(self, masks: Masks, params: Params, dense: MutableMapping[str, torch.Tensor]) -> None:
        """Before a forward pass (a training step's or an evaluation's)."""

    def before_step(self, masks: Masks, params: Params, dense: MutableMapping[str, torch.Tensor],
                    mask_gradients: bool) -> None:
        """After the backward pass, before the optimizer step (``mask_gradients``: the
        method lets the gradients of pruned weights be zeroed)."""

    def after_step(self, masks: Masks, params: Params) -> None:
        """After the optimizer step."""

    def restore(self, params: Params, dense: MutableMapping[str, torch.Tensor]) -> None:
        """At the end of a masked evaluation: undo what ``before_forward`` did."""


class HardMode(MaskMode):
    name = "hard"
    zeroes_weights = True
    masks_gradients = True

    @torch.no_grad()
    def install(self, masks, params, optimizer, clear_state) -> None:
        """Zero pruned weights (regrown weights start from zero) and, with
        ``clear_state``, their optimizer state (:data:`WEIGHT_STATE`)."""
        for name, mask in masks.items():
            p = params[name]
            p.mul_(mask.to(p.device))
            if optimizer is not None and clear_state:
                state = optimizer.state.get(p, {})
                for key in WEIGHT_STATE:
                    buf = state.get(key)
                    if buf is not None:
                        buf.mul_(mask.to(buf.device))

    def before_step(self, masks, params, dense, mask_gradients) -> None:
        if not mask_gradients:
            return
        for name, mask in masks.items():
            grad = params[name].grad
            if grad is not None:
                grad.mul_(mask)

    @torch.no_grad()
    def after_step(self, masks, params) -> None:
        for name, mask in masks.items():
            params[name].mul_(mask)


class FeedbackMode(MaskMode):
    name = "feedback"

    def before_forward(self, masks, params, dense) -> None:
        """The forward/backward pass sees ``w * m`` (the dense ``w`` stashed in ``dense``)."""
        for name, mask in masks.items():
            if name in dense:
                continue  # already masked: stashing w * m as the dense w would lose the feedback
            p = params[name]
            dense[name] = p.data
            p.data = p.data * mask

    def before_step(self, masks, params, dense, mask_gradients) -> None:
        """Restore the dense ``w``: its gradient, taken at ``w * m``, passes straight through."""
        self.restore(params, dense)

    def restore(self, params, dense) -> None:
        for name, w in dense.items():
            params[name].data = w
        dense.clear()


NONE, HARD, FEEDBACK = MaskMode(), HardMode(), FeedbackMode()
MODES: dict[str, MaskMode] = {m.name: m for m in (NONE, HARD, FEEDBACK)}


def as_mask_mode(value: MaskMode | str) -> MaskMode:
    """The mode ``value`` names (a mode is returned as it is)."""
    if isinstance(value, MaskMode):
        return value
    if value not in MODES:
        raise ValueError(f"mask_mode = {value!r} is not a mask mode; use one of "
                         f"{', '.join(repr(n) for n in MODES)}")
    return MODES[value]
