"""Sparse momentum, SM (Dettmers & Zettlemoyer 2019, "Sparse Networks from Scratch").

A random mask at the target density; at the end of every epoch but the last, each
layer loses the ``prune_rate`` fraction (0.5, cosine-decayed to 0 over training) of
its active weights with the smallest magnitude; the same total is regrown, shared
across layers in proportion to the mean ``|momentum|`` of each layer's active weights
(capped by its free slots), at the free positions with the largest ``|momentum|``.
Regrown weights start at zero.

Gradients are not masked, so the momentum buffer (``optimizer.state[p]
["momentum_buffer"]``) also measures the missing weights; the weights themselves are
re-zeroed after every step, which keeps the mask hard. Momentum is kept at regrown
positions (it is what chose them). Without a momentum buffer the gradient is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.base import METHODS
from methods.dropgrow import DropGrow, DropGrowOptions
from methods.masks import topk_masks
from methods.schedules import cosine_decay


@dataclass(frozen=True)
class SMOptions(DropGrowOptions):
    """``[method.sm]``.

    - ``prune_rate`` (0.5): the fraction of each layer's active weights removed at the
      end of the first epoch, cosine-decayed to 0 at the end of training.
    - ``distribution`` ("uniform", a choice: the same random density in every layer;
      "erdos_renyi" is the alternative).
    - ``exclude_first_conv`` / ``exclude_last_linear`` (False).
    """

    prune_rate: float = 0.5

    def validate(self) -> str | None:
        if not 0.0 <= self.prune_rate < 1.0:
            return f"prune_rate = {self.prune_rate} must lie in [0, 1)"
        return None


def momentum_of(param: torch.nn.Parameter, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """The optimizer's momentum buffer of ``param``, else its gradient, else zeros."""
    buf = optimizer.state.get(param, {}).get("momentum_buffer")
    if buf is None:
        buf = param.grad if param.grad is not None else torch.zeros_like(param)
    return buf.detach()


@METHODS.register("sm")
class SparseMomentum(DropGrow):
    """Drop by magnitude per layer, grow where the momentum is largest, once per epoch."""

    name = "sm"
    Options = SMOptions

    def before_optimizer_step(self, model, optimizer) -> None:
        """Leave gradients dense (momentum of missing weights); the step's result is
        re-masked in :meth:`after_optimizer_step`."""

    def on_epoch_end(self, epoch: int, model, optimizer) -> None:
        step = (epoch + 1) * self.ctx.steps_per_epoch
        if step + self.ctx.steps_per_epoch <= self.ctx.total_steps:  # not after the last epoch
            self.update(step, optimizer)

    def prune_rate(self, step: int) -> float:
        return cosine_decay(step, self.ctx.total_steps, self.options.prune_rate)

    def drop(self, step, optimizer) -> dict[str, torch.Tensor]:
        rate = self.prune_rate(step)
        out = {}
        for name, mask in self.masks.items():
            alive = int(mask.count_nonzero())
            scores = torch.where(mask, self._params[name].detach().abs(), -1.0)
            out[name] = topk_masks({name: scores}, alive - int(rate * alive + 0.5))[name]
        return out

    def grow_weights(self, kept, optimizer) -> list[float]:
        out = []
        for name, mask in self.masks.items():
            mom = momentum_of(self._params[name], optimizer).abs()[mask]
            out.append(float(mom.mean()) if mom.numel() else 0.0)
        return out

    def grow_scores(self, name, generator, optimizer) -> torch.Tensor:
        return momentum_of(self._params[name], optimizer).abs()
