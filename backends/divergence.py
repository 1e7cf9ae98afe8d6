"""When a run has failed numerically: a loss that is no longer finite, weights that are
not, or a mean training loss far above a uniform guess's. The checks raise
:class:`~backends.base.RunFailed` with the run's last good metrics (``partial``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from backends.base import RunFailed

#: A run fails when its mean training loss exceeds this many times ln(classes), the loss
#: of a uniform guess: far past anything a run that is still learning reaches.
DIVERGENCE_FACTOR = 3.0
#: Steps between loss checks (each check waits for the device).
LOSS_CHECK_EVERY = 16


def check_finite(loss: torch.Tensor, epoch_loss: torch.Tensor, params: Iterable[torch.Tensor],
                 epoch: int, step: int, partial: dict[str, Any]) -> None:
    """Fail, naming the loss, when the epoch's loss so far (``loss`` of step ``step`` added
    to ``epoch_loss``) or the weights are no longer finite (a mask update then fails only
    as a consequence); ``epoch`` is 0-based."""
    value = float(loss + epoch_loss)
    if not math.isfinite(value):
        raise RunFailed(f"training loss became {value} in epoch {epoch + 1} (step {step})", partial)
    if not all(bool(torch.isfinite(p).all()) for p in params):
        raise RunFailed(f"training diverged in epoch {epoch + 1}: the weights became "
                        f"non-finite at step {step} (loss {float(loss):.3g})", partial)


def check_loss(mean_loss: torch.Tensor | float, num_classes: int, epoch: int,
               partial: dict[str, Any]) -> None:
    """Fail on a NaN/infinite mean training loss or a diverging one: above
    ``DIVERGENCE_FACTOR`` times that of a uniform guess, ln(classes)."""
    value = float(mean_loss)
    limit = DIVERGENCE_FACTOR * math.log(num_classes)
    if not math.isfinite(value):
        raise RunFailed(f"training loss became {value} in epoch {epoch + 1}", partial)
    if value > limit:
        raise RunFailed(f"training diverged in epoch {epoch + 1}: mean loss {value:.3g} > "
                        f"{DIVERGENCE_FACTOR:g} x ln({num_classes}) = {limit:.3g}", partial)
